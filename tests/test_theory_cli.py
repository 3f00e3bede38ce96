"""The ``eigennas kernel`` command and the shared ``sphere_data`` loader."""

from __future__ import annotations

import numpy as np
import pytest

from eigennas.cli import main
from theory import lambda_min, sphere_data

ARCH = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|"


def test_kernel_command_prints_the_spectrum(capsys) -> None:
    assert main(["kernel", ARCH, "--n", "20", "--d", "6", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    lam = float(out.split("lambda_min:")[1].split()[0])
    assert lam == pytest.approx(lambda_min(ARCH, sphere_data(20, 6, seed=3)), rel=1e-9)
    assert "lambda_max:" in out and "trace:" in out
    assert main(["kernel", ARCH, "--n", "20", "--nngp"]) == 0
    assert "NNGP" in capsys.readouterr().out


def test_kernel_command_prints_the_propagated_error_bound(capsys) -> None:
    """The printed bound is theory.errors' bound propagated through the layers (tested against quadrature
    in tests/test_certificates.py), of the NTK or of the NNGP as asked, not the per-edge truncation bound."""
    from theory import kernel_pieces
    from theory.errors import kernel_errors, spectral_bound

    arch, X = "|dense_tanh~0|+|skip_connect~0|dense_tanh~1|", sphere_data(12, 5, seed=2)
    errs = kernel_errors(kernel_pieces(arch, X))
    for flag, exact in (([], errs.ntk_norm), (["--nngp"], spectral_bound(errs.nngp))):
        assert main(["kernel", arch, "--n", "12", "--d", "5", "--seed", "2", *flag]) == 0
        bound = float(capsys.readouterr().out.split("<=")[1].split()[0])
        assert exact > 0 and bound == pytest.approx(exact, rel=0.01)
    assert errs.ntk_norm != pytest.approx(spectral_bound(errs.nngp), rel=0.01)


def test_kernel_command_errors(capsys) -> None:
    assert main(["kernel", "|dense_nope~0|"]) == 1
    assert "unknown activation" in capsys.readouterr().err


def test_sphere_data_gaussian() -> None:
    X = sphere_data(30, 5, seed=1)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.sqrt(5))
    np.testing.assert_array_equal(X, sphere_data(30, 5, seed=1))


@pytest.mark.data
def test_sphere_data_cifar10(data_dir, capsys) -> None:
    X = sphere_data(40, source="cifar10", data_dir=data_dir)
    assert X.shape == (40, 3072)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.sqrt(3072))
    assert X.mean() > 0.5  # uncentred images keep a positive coordinate mean (tracked by the kernels)
    Xc = sphere_data(40, source="cifar10", data_dir=data_dir, center=True)
    np.testing.assert_allclose(Xc.mean(1), 0, atol=1e-12)
    assert main(["kernel", "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|", "--data", "cifar10", "--n", "30",
                 "--data-dir", str(data_dir)]) == 0
    assert "FC analogue" in capsys.readouterr().out
