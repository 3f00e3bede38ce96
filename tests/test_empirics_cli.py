"""``eigennas measure`` end to end (tiny sizes)."""

from __future__ import annotations

import pytest

from eigennas.cli import main


def test_measure_fc(capsys):
    rc = main(["measure", "|dense_relu~0|+|skip_connect~0|dense_tanh~1|", "--width", "32", "--seeds", "2",
               "--n", "6", "--d", "4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "seed 0" in out and "seed 1" in out and "lambda_min:" in out and "± " in out


@pytest.mark.data
def test_measure_nats(capsys, data_dir):
    rc = main(["measure", "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
               "--width", "2", "--cells", "1", "--seeds", "2", "--n", "4", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert rc == 0 and "BN train" in out and "lambda_min:" in out


def test_measure_errors(capsys):
    with pytest.raises(SystemExit) as exc:  # refused by the argument parser (exit 2)
        main(["measure", "|dense_relu~0|", "--seeds", "0"])
    assert exc.value.code == 2 and "--seeds" in capsys.readouterr().err
    assert main(["measure", "|dense_relu~0|", "--width", "8", "--n", "3", "--method", "magic"]) == 1
