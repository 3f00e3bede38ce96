"""The search-space data model: parse/print round trips, canonical forms, presets, errors."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.presets import all_nats_arch_strings, fc_chain, fc_skip, nats_fc_analogue, resnet, resnet_alpha
from theory.space import NATS_OPS, Arch, ArchError, Edge, Op, OpKind

OP_TOKENS = [
    "none", "skip_connect", "dense_relu", "dense_tanh", "dense_leaky_relu(0.2)", "dense_gelu", "dense_sigmoid",
    "dense_swish", "dense_elu(0.5)", "dense_erf", "dense_identity", "dense_mix(0.25*relu,0.75*tanh)",
    "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "0.5*skip_connect", "0.125*dense_relu", "0.001*dense_gelu",
]


@st.composite
def arch_strings(draw, max_nodes: int = 6) -> str:
    n = draw(st.integers(1, max_nodes))
    groups = []
    for j in range(1, n + 1):
        srcs = sorted(draw(st.sets(st.integers(0, j - 1), min_size=1, max_size=j)))
        toks = sorted((draw(st.sampled_from(OP_TOKENS)), s) for s in srcs)
        groups.append("|" + "|".join(f"{t}~{s}" for t, s in sorted(toks, key=lambda p: (p[1], p[0]))) + "|")
    return "+".join(groups)


@given(arch_strings())
def test_print_parse_round_trip(text):
    a = Arch.parse(text)
    assert str(a) == text
    assert Arch.parse(str(a)) == a


@given(arch_strings())
def test_canonical_is_idempotent_and_invariant_under_relabelling(text):
    a = Arch.parse(text)
    c = a.canonical()
    assert c.canonical() == c
    # relabel the intermediate nodes by a random topological order: same canonical form
    rng = random.Random(len(text))
    order = list(range(1, a.n_nodes))
    rng.shuffle(order)
    label = {0: 0, a.output: 10_000}
    label.update({v: 100 + i for i, v in enumerate(order)})
    b = Arch.from_edges([(label[e.src], label[e.dst], e.op) for e in a.edges])
    assert b.canonical() == c


def test_round_trip_every_nats_cell(data_dir):
    path = data_dir / "nb201_accuracies" / "nb201_all_archs_merged.csv"
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15625
    strings = [r["arch_str"] for r in rows]
    for s in strings:
        assert str(Arch.parse(s)) == s
    assert set(strings) == set(all_nats_arch_strings())


def test_canonical_classes_on_nats(data_dir):
    """Our canonical form is function equality (pruned, aliases collapsed, relabelled). It must never
    split a NATS isomorphism class that differs only by a dead `none` path or by node order."""
    a = Arch.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    b = Arch.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert a.canonical() == b.canonical()
    path = data_dir / "nb201_accuracies" / "nb201_all_archs_merged.csv"
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    classes = {str(Arch.parse(r["arch_str"]).canonical()) for r in rows}
    # 6,985 function classes (NATS' path-expansion unique_str gives 6,466; see Arch.canonical)
    assert len(classes) == 6985


def test_dead_paths_and_zero_output():
    a = Arch.parse("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    assert a.canonical() == Arch.parse("|skip_connect~0|")
    z = Arch.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert z.is_zero and z.canonical() == Arch.parse("|none~0|")
    # an alias chain of identities collapses to the input
    chain = Arch.parse("|skip_connect~0|+|skip_connect~1|+|skip_connect~2|")
    assert chain.canonical() == Arch.parse("|skip_connect~0|")
    # parallel branches in either order are the same cell
    x = Arch.parse("|dense_relu~0|+|dense_tanh~0|+|skip_connect~1|dense_relu~2|")
    y = Arch.parse("|dense_tanh~0|+|dense_relu~0|+|dense_relu~1|skip_connect~2|")
    assert x.isomorphic(y)
    # but different activations on the branches are not
    assert not x.isomorphic("|dense_relu~0|+|dense_tanh~0|+|dense_relu~1|skip_connect~2|")
    # scaled skips are not aliases
    s = Arch.parse("|dense_relu~0|+|0.5*skip_connect~1|")
    assert s.canonical() == s


def test_presets():
    c = fc_chain(["relu", "tanh", "gelu"])
    assert str(c) == "|dense_relu~0|+|dense_tanh~1|+|dense_gelu~2|"
    assert fc_chain("relu", depth=2) == Arch.parse("|dense_relu~0|+|dense_relu~1|")
    s = fc_skip(["relu", "tanh", "gelu"], [(0, 2), (1, 3), (2, 3)])
    assert str(s) == "|dense_relu~0|+|skip_connect~0|dense_tanh~1|+|skip_connect~1|dense_gelu~2|skip_connect~2|"
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 2] = mask[1, 3] = mask[2, 3] = True
    assert fc_skip(["relu", "tanh", "gelu"], mask) == s
    r = resnet("relu", 4, "1/L")
    assert str(r).startswith("|dense_relu~0|+|0.25*dense_relu~1|skip_connect~1|")
    assert resnet_alpha(16, "1/sqrt(L)") == 0.25
    assert r.n_nodes == 4 and len(r.dense_edges) == 4
    fc = nats_fc_analogue("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    assert str(fc) == "|dense_relu~0|+|skip_connect~0|dense_relu~1|+|skip_connect~0|none~1|dense_relu~2|"
    assert fc.is_fc and not Arch.parse("|nor_conv_3x3~0|").is_fc
    assert len(all_nats_arch_strings()) == 15625 and len(NATS_OPS) == 5


def test_op_model():
    op = Op.parse("0.25*dense_leaky_relu(0.2)")
    assert op.kind is OpKind.DENSE and op.scale == 0.25 and op.activation.slope == 0.2
    assert op.token == "0.25*dense_leaky_relu(0.2)"
    assert Op.parse("1e-3*dense_gelu").token == "0.001*dense_gelu"
    assert Op.parse("skip_connect").is_skip and Op.parse("none").is_none
    with pytest.raises(ArchError):
        Op(OpKind.DENSE)
    with pytest.raises(ArchError, match="positive"):
        Op.parse("-1*skip_connect")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("|dense_relu~0|+|dense_foo~1|", r"bad token 'dense_foo~1' at token 1 of node 2 \(character 16"),
        ("|conv~0|", "unknown op 'conv'"),
        ("|dense_relu~0|+|skip_connect~2|", "cannot read node 2.*cycle"),
        ("|dense_relu~0|+||", "node 2 has no inputs"),
        ("|dense_relu0|", "expected op~src"),
        ("|dense_relu~x|", "bad source 'x'"),
        ("dense_relu~0", "must look like"),
        ("|dense_relu~0|+|skip_connect~0|skip_connect~1|dense_tanh~1|oops", "must look like"),
    ],
)
def test_parse_errors_name_token_and_position(text, match):
    with pytest.raises(ArchError, match=match):
        Arch.parse(text)


def test_from_edges_errors():
    with pytest.raises(ArchError, match="cycle"):
        Arch.from_edges([(0, 1, "dense_relu"), (1, 2, "dense_relu"), (2, 1, "skip_connect"), (2, 3, "dense_relu")])
    with pytest.raises(ArchError, match="node 2 has no inputs"):
        Arch.from_edges([(0, 1, "dense_relu"), (2, 3, "dense_relu")])
    with pytest.raises(ArchError, match="self loop"):
        Arch.from_edges([(0, 1, "dense_relu"), (1, 1, "skip_connect")])
    a = Arch.from_edges([(0, 5, "dense_relu"), (5, 9, "dense_tanh"), (0, 9, "skip_connect")])
    assert str(a) == "|dense_relu~0|+|skip_connect~0|dense_tanh~1|"
    with pytest.raises(ArchError, match="no inputs"):
        Arch((((Edge(0, 1, Op(OpKind.SKIP))),), ()))
