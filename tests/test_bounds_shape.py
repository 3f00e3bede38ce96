"""The shape of the bounds package: a thin ``__init__``, one ``evaluate`` signature, the Arch kept on
the Plan (one parse and one plan per architecture), and one exact kernel shared by ``certify`` and
the generalization bound."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import bounds
import theory
from bounds.bound import Bound
from bounds.generalization import _GenBound
from bounds.lower_upper import _ClosedBound
from bounds.plan import BoundError, Plan
from theory.space import Arch

ROOT = Path(__file__).resolve().parents[1]
ARCH = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|+|dense_gelu~2|"


def test_init_only_reexports() -> None:
    tree = ast.parse((ROOT / "bounds" / "__init__.py").read_text())
    for node in tree.body:
        ok = isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or (
            isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"])
        assert ok, f"bounds/__init__.py holds logic at line {node.lineno}"
    for name in bounds.__all__:
        assert hasattr(bounds, name)


def test_one_evaluate_signature() -> None:
    base = inspect.signature(Bound.evaluate)
    for cls in (_ClosedBound, _GenBound):
        assert inspect.signature(cls.evaluate) == base, cls


def test_plan_keeps_its_arch_and_is_built_once(monkeypatch) -> None:
    a = Arch.parse(ARCH)
    p = Plan.of(a)
    assert p.arch == a and Plan.of(p) is p and Plan.of(ARCH) is p
    calls = []
    build = Plan.build.__func__

    def counting(cls, arch):
        calls.append(arch)
        return build(cls, arch)

    fresh = "|dense_relu~0|+|skip_connect~0|dense_tanh~1|+|dense_erf~2|"
    monkeypatch.setattr(Plan, "build", classmethod(counting))
    X = theory.sphere_data(6, 5, seed=0)
    bounds.certify(fresh, X)
    assert len(calls) == 1  # one plan for every level of the certificate


def test_certify_and_generalization_share_one_kernel(monkeypatch) -> None:
    X = theory.sphere_data(8, 6, seed=1)
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    cert0 = bounds.certify(ARCH, X)
    gen0 = bounds.generalization(ARCH).evaluate(ARCH, X, y)
    kp = theory.kernel_pieces(ARCH, X)

    def refuse(*args, **kwargs):
        raise AssertionError("the exact kernel was computed a second time")

    monkeypatch.setattr(theory, "kernel_pieces", refuse)
    monkeypatch.setattr(theory, "ntk", refuse)
    cert = bounds.certify(ARCH, X, kp=kp)
    gen = bounds.generalization(ARCH).evaluate(ARCH, X, y, kp=kp)
    assert cert.s1 == cert0.s1 and cert.exact == cert0.exact
    assert cert.closed_upper == pytest.approx(cert0.closed_upper, rel=1e-9)
    assert gen.parts == pytest.approx(gen0.parts, rel=1e-12)


def test_pieces_of_other_data_or_arch_are_refused() -> None:
    X = theory.sphere_data(6, 5, seed=0)
    kp = theory.kernel_pieces(ARCH, X)
    y = np.ones(6)
    with pytest.raises(BoundError, match="other data"):
        bounds.certify(ARCH, theory.sphere_data(6, 5, seed=1), kp=kp)
    with pytest.raises(BoundError, match="computed for"):
        bounds.generalization("|dense_relu~0|").evaluate("|dense_relu~0|", X, y, kp=kp)
    with pytest.raises(BoundError, match="no labels"):
        bounds.lower(ARCH).evaluate(ARCH, X, y)
    with pytest.raises(BoundError, match="unknown constants"):
        bounds.generalization(ARCH).evaluate(ARCH, X, y, constants={"C3": 1.0})
