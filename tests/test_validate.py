"""The input-validation layer (theory.validate) and its use by theory, bounds, empirics and the CLI.

Property tests generate malformed input (ragged nesting, strings, complex, booleans, NaN/inf,
extreme scales, lower precision) and check that every package takes the same inputs and refuses
the same ones with a message naming the problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
import theory
from bounds.plan import BoundError
from eigennas.cli import build_parser
from empirics.models.build import build_model
from empirics.ntk import NTKInputError, empirical_ntk
from theory.data import InputError
from theory.validate import as_float, as_int, as_real_array, norm_tolerance, sphere_rows, unit_roundoff

FAST = settings(max_examples=25, deadline=None)
ARCH = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|"


# ------------------------------------------------------------------------------- malformed arrays


def _malformed(kind: str, n: int, d: int, rng: np.random.Generator):
    """(bad X, a word the message must contain)."""
    X = rng.standard_normal((n, d))
    if kind == "ragged":
        rows = X.tolist()
        rows[-1] = rows[-1] + [1.0]
        return rows, "ragged"
    if kind == "strings":
        return [[str(v) for v in r] for r in X.tolist()], "strings"
    if kind == "complex":
        return X + 1j * rng.standard_normal((n, d)), "complex"
    if kind == "bool":
        return X > 0, "boolean"
    if kind == "nan":
        X[rng.integers(n), rng.integers(d)] = rng.choice([np.nan, np.inf, -np.inf])
        return X, "non-finite"
    if kind == "ndim":
        return X.ravel(), "2-D"
    if kind == "empty":
        return np.zeros((0, d)), "at least one"
    if kind == "objects":
        return np.array([[object()] * d] * n, dtype=object), "real numbers"
    raise AssertionError(kind)


KINDS = ["ragged", "strings", "complex", "bool", "nan", "ndim", "empty", "objects"]


@FAST
@given(kind=st.sampled_from(KINDS), n=st.integers(2, 6), d=st.integers(2, 6), seed=st.integers(0, 10**6))
def test_malformed_data_is_refused_by_theory_and_bounds_with_the_reason(kind, n, d, seed):
    X, word = _malformed(kind, n, d, np.random.default_rng(seed))
    with pytest.raises(InputError, match=word):
        theory.check_inputs(X, normalize=True)
    with pytest.raises(InputError, match=word):
        theory.lambda_min(ARCH, X, normalize=True)
    with pytest.raises(BoundError, match=f"A0 violated: .*{word}"):
        bounds.data.data_stats(X)


@FAST
@given(kind=st.sampled_from(KINDS), n=st.integers(2, 5), d=st.integers(2, 5), seed=st.integers(0, 10**6))
def test_malformed_data_is_refused_by_the_empirical_ntk_with_the_reason(kind, n, d, seed):
    X, word = _malformed(kind, n, d, np.random.default_rng(seed))
    if kind == "ndim":
        word = "batch"  # a 1-D batch is refused by the NTK's own shape check
    model = build_model("|dense_relu~0|", width=8, seed=0, in_dim=d)
    with pytest.raises(NTKInputError, match=word if kind not in ("bool",) else "dtype|boolean"):
        empirical_ntk(model, X)


def test_lists_are_accepted_everywhere_and_give_the_same_numbers():
    X = theory.sphere_data(6, 5, seed=1)
    L = X.tolist()
    assert theory.lambda_min(ARCH, L) == theory.lambda_min(ARCH, X)
    assert bounds.certify(ARCH, L).exact == bounds.certify(ARCH, X).exact
    model = build_model("|dense_relu~0|", width=16, seed=0, in_dim=5)
    K_list = empirical_ntk(model, L)
    K_arr = empirical_ntk(model, torch.from_numpy(X))
    assert torch.equal(K_list, K_arr)
    assert empirical_ntk(model, tuple(map(tuple, L))).shape == (6, 6)


# ------------------------------------------------------------------------------ precision and scale


@FAST
@given(n=st.integers(2, 12), d=st.integers(1, 3072), seed=st.integers(0, 10**6))
def test_float32_sphere_data_is_accepted_within_float32_rounding(n, d, seed):
    """Rows put on the sphere in float64 and stored as float32 have norms equal up to float32
    rounding; they are accepted and their kernel agrees with the float64 one to float32 accuracy."""
    d = min(d, 64) if n > 6 else d
    X = theory.sphere_data(n, d, seed=seed)
    X32 = X.astype(np.float32)
    got = theory.check_inputs(X32)
    sq = np.einsum("ij,ij->i", got, got)
    assert np.ptp(sq) <= 1e-12 * sq.max()  # projected onto one sphere in float64
    np.testing.assert_allclose(got, X, rtol=0, atol=1e-6 * math.sqrt(d))
    if d <= 64:
        a = theory.lambda_min(ARCH, X32)
        b = theory.lambda_min(ARCH, X)
        assert abs(a - b) <= 1e-4 * max(1.0, abs(b))
        cert = bounds.certify(ARCH, X32)
        assert abs(cert.exact - bounds.certify(ARCH, X).exact) <= 1e-4 * max(1.0, abs(b))


def test_float32_tolerance_still_refuses_unequal_norms():
    X = theory.sphere_data(4, 8, seed=0).astype(np.float32)
    X[0] *= 1.001
    with pytest.raises(InputError, match="equal norms"):
        theory.check_inputs(X)
    assert norm_tolerance(unit_roundoff(np.float32(1)), 8) < 1e-5
    assert norm_tolerance(unit_roundoff(1.0), 8) == 1e-8


@FAST
@given(k=st.integers(-300, 300), seed=st.integers(0, 10**6))
def test_scaled_data_is_never_called_zero_rows(k, seed):
    """X·10^k: normalize=True recovers the same sphere points for every k; without normalize the
    data is used (kernels are exact at any common radius) or refused for its scale, never as zero rows."""
    X = theory.sphere_data(5, 6, seed=seed)
    Y = X * 10.0**k
    np.testing.assert_allclose(theory.check_inputs(Y, normalize=True), X, rtol=1e-12, atol=1e-12)
    try:
        theory.check_inputs(Y)
    except InputError as exc:
        assert "zero rows" not in str(exc)
        assert "squared norm" in str(exc) and "normalize=True" in str(exc)
        assert abs(k) > 50
    try:
        bounds.data.data_stats(Y)
    except BoundError as exc:
        assert "zero row" not in str(exc) and "squared norm" in str(exc)
        assert abs(k) > 50


def test_a_true_zero_row_is_still_named():
    X = theory.sphere_data(4, 3, seed=0)
    X[2] = 0
    with pytest.raises(InputError, match=r"zero rows \[2\]"):
        theory.check_inputs(X, normalize=True)


def test_sphere_rows_projection_keeps_float64_data_unchanged():
    X = theory.sphere_data(7, 9, seed=3)
    assert sphere_rows(X) is X


# ----------------------------------------------------------------------------------------- numbers


@FAST
@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_as_int_refuses_non_integral_and_non_finite_floats(x):
    if math.isfinite(x) and float(x).is_integer():
        assert as_int(x) == int(x)
    else:
        with pytest.raises(ValueError, match="integer"):
            as_int(x, "width")


@FAST
@given(text=st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=4))
def test_as_int_reads_only_ascii_digits(text):
    if text.isascii():
        assert as_int(text) == int(text)
    else:
        with pytest.raises(ValueError, match="integer"):
            as_int(text)
        with pytest.raises(ValueError, match="decimal number"):
            as_float(text)


def test_as_int_and_as_float_refuse_booleans_and_ranges():
    for bad in (True, False, np.bool_(True)):
        with pytest.raises(ValueError, match="boolean"):
            as_int(bad)
        with pytest.raises(ValueError, match="boolean"):
            as_float(bad)
    with pytest.raises(ValueError, match=">= 1"):
        as_int(0, "threads", minimum=1)
    with pytest.raises(ValueError, match="finite"):
        as_float(float("nan"))
    with pytest.raises(ValueError, match="< 1"):
        as_float(1.0, maximum=1.0, strict_max=True)
    assert as_int(np.int64(7)) == 7 and as_int("12") == 12 and as_int(16.0) == 16


def test_build_model_refuses_non_integer_width():
    for bad in (1.5, True, 0, float("nan")):
        with pytest.raises(ValueError, match="width"):
            build_model("|dense_relu~0|", width=bad, seed=0, in_dim=4)


# ------------------------------------------------------------------------------------- CLI numbers

BAD_NUMBERS = [
    ["search", "--threads", "0"],
    ["search", "--repeats", "0"],
    ["search", "--n", "-5"],
    ["search", "--seed", "-1"],
    ["correlate", "--threads", "0"],
    ["correlate", "--level", "1.5"],
    ["correlate", "--level", "0"],
    ["correlate", "--boot", "0"],
    ["correlate", "--n", "0"],
    ["ablate", "--repeats", "0"],
    ["ablate", "--threads", "0"],
    ["ablate", "--population", "0"],
    ["measure", ARCH, "--width", "1.5"],
    ["measure", ARCH, "--width", "0"],
    ["measure", ARCH, "--seeds", "0"],
    ["measure", ARCH, "--n", "\u0663"],
    ["kernel", ARCH, "--n", "0"],
    ["kernel", ARCH, "--d", "-1"],
    ["hermite", "relu", "--q", "nan"],
    ["hermite", "relu", "--q", "0"],
    ["hermite", "relu", "--r", "-1"],
    ["bounds", ARCH, "--r", "65"],
    ["explain", ARCH, "--seeds", "0"],
]


@pytest.mark.parametrize("argv", BAD_NUMBERS, ids=lambda a: " ".join(a))
def test_cli_refuses_bad_numbers_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}" in err and "must" in err


def test_cli_accepts_good_numbers():
    a = build_parser().parse_args(["correlate", "--n", "all", "--level", "0.9", "--threads", "2"])
    assert a.n == "all" and a.level == 0.9 and a.threads == 2
    assert build_parser().parse_args(["correlate", "--n", "50"]).n == 50


def test_as_real_array_any_ndim_and_torch():
    t = torch.ones(2, 3, 4, dtype=torch.float32)
    A = as_real_array(t, ndim=None)
    assert A.dtype == np.float64 and A.shape == (2, 3, 4)
    assert unit_roundoff(t) == np.finfo(np.float32).eps / 2


# ------------------------------------------------------------------------- arch strings, activations

NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@FAST
@given(digit=NON_ASCII_DIGITS, where=st.sampled_from(["src", "scale", "param"]))
def test_non_ascii_digits_are_never_read_as_numbers(digit, where):
    from theory.activations import ActivationError, parse_activation
    from theory.space import Arch, ArchError

    text = {
        "src": f"|dense_relu~0|+|dense_relu~{digit}|",
        "scale": f"|{digit}*dense_relu~0|",
        "param": f"|dense_leaky_relu(0.{digit})~0|",
    }[where]
    with pytest.raises(ArchError, match="non-ASCII character"):
        Arch.parse(text)
    with pytest.raises(ActivationError, match="non-ASCII character"):
        parse_activation(f"leaky_relu({digit})")


@FAST
@given(text=st.text(min_size=1, max_size=30))
def test_any_text_parses_or_raises_arch_error(text):
    """Hostile arch strings: either a valid architecture or an ArchError (never another exception)."""
    from theory.space import Arch, ArchError

    try:
        a = Arch.parse(text)
    except ArchError as exc:
        assert str(exc)
    else:
        assert text.isascii() and Arch.parse(str(a)) == a


@FAST
@given(text=st.text(alphabet=st.sampled_from(list("relu_tanhmix(0.5*,)-+e1")), min_size=1, max_size=25))
def test_any_activation_text_parses_or_raises_activation_error(text):
    from theory.activations import ActivationError, parse_activation

    try:
        parse_activation(text)
    except ActivationError as exc:
        assert str(exc)


# ----------------------------------------------------------------- hypothesis: CLI numbers and paths


@FAST
@given(text=st.one_of(st.text(max_size=8), st.integers(-5, 5).map(str), st.floats().map(repr)))
def test_cli_number_types_parse_or_refuse_with_argparse_errors(text):
    import argparse

    from eigennas.commands._types import nonnegative_int, open_unit_interval, positive_float, positive_int

    for parse, ok in ((positive_int, lambda v: isinstance(v, int) and v >= 1),
                      (nonnegative_int, lambda v: isinstance(v, int) and v >= 0),
                      (positive_float, lambda v: math.isfinite(v) and v > 0),
                      (open_unit_interval, lambda v: 0 < v < 1)):
        try:
            v = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert "must" in str(exc)
        else:
            assert ok(v) and text.isascii()


@FAST
# names without "/" (an absolute one would escape the temporary folder) and other than . and ..
@given(name=st.text(min_size=1, max_size=12).filter(lambda t: "/" not in t and t not in (".", "..")))
def test_output_dir_is_created_or_refused_with_output_error(name, tmp_path_factory):
    from theory.files import OutputError, check_output_dir

    root = tmp_path_factory.mktemp("out")
    (root / "file").write_text("")
    for target in (root / name, root / "file" / name):
        assert root in target.parents
        try:
            p = check_output_dir(target)
        except OutputError as exc:
            assert "not writable" in str(exc) or "empty" in str(exc)
        else:
            assert p.is_dir()


@pytest.mark.parametrize("kw", [{"n": 1.5}, {"n": 0}, {"d": True}, {"d": 0}, {"seed": -1}, {"n": "\u0663"}])
def test_sphere_data_sizes_are_validated(kw):
    args = {"n": 3, "d": 3, "seed": 0, **kw}
    with pytest.raises(InputError, match=next(iter(kw))):
        theory.sphere_data(**args)
