"""The command line: every command is listed; the foundation commands work; errors are clear."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eigennas.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name, _ in COMMANDS:
        assert name in out


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "eigennas.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "search" in r.stdout


def test_arch_command(capsys):
    assert main(["arch", "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|", "--fc"]) == 0
    out = capsys.readouterr().out
    assert "canonical:  |nor_conv_3x3~0|+|avg_pool_3x3~1|" in out
    assert "FC analogue: |dense_relu~0|+|none~0|skip_connect~1|" in out


def test_hermite_command(capsys):
    assert main(["hermite", "relu", "--r", "2"]) == 0
    assert "0.2820947918" in capsys.readouterr().out


def test_bad_arch_is_a_clear_error(capsys):
    assert main(["arch", "|dense_nope~0|"]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "dense_nope" in err
