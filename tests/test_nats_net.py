"""The NATS-Bench cell network: structure, forward, and the closed-form parameter count against the
benchmark's ``params_M_cifar10`` for all 15,625 cells."""

from __future__ import annotations

import collections
import csv
import itertools
import random

import pytest
import torch

from empirics.models.nats_net import NATSNetwork, count_parameters
from theory.presets import all_nats_arch_strings
from theory.space import ArchError

CSV = "nb201_accuracies/nb201_all_archs_merged.csv"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"


def _instantiated(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def table(data_dir):
    with open(data_dir / CSV, newline="") as fh:
        return list(csv.DictReader(fh))


def test_closed_form_values():
    # hand-computed: base (stem, reductions, head, classifier) 73,306; each conv1x1 edge adds 28,000 over
    # the three stages of 5 cells, each conv3x3 edge 243,040
    assert count_parameters("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") == 73306
    assert count_parameters("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|") == 73306 + 28000
    assert count_parameters("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|") == 73306 + 243040
    assert count_parameters(ARCH1) == 73306 + 2 * 243040 + 28000


@pytest.mark.data
def test_params_match_nats_table_for_all_15625(table):
    """params_M_cifar10 is the parameter count / 1e6 with 6 decimals (i.e. exact in units of 1 parameter).

    It matches the closed form exactly for 15,421 cells. The other 204 values come from the
    NAS-Bench-201 v1.0 file (via the NASWOT table) and are not the count of any TinyNetwork: each is the
    mean of 2 or 3 counts taken within the cell's isomorphism class (unique_str), its own count among
    them (v1.0 averaged trials that had been trained on different isomorphic members of the class).
    The test asserts exactly that, so any other discrepancy fails.
    """
    assert len(table) == 15625
    counts = [count_parameters(r["arch_str"]) for r in table]
    by_class = collections.defaultdict(set)
    for r, c in zip(table, counts):
        by_class[r["unique_str"]].add(c)
    mismatched = []
    for r, c in zip(table, counts):
        text = r["params_M_cifar10"]
        assert len(text.split(".")[1]) == 6, text  # millions with 6 decimals: exact units
        value = round(float(text) * 1e6)
        if value != c:
            mismatched.append((r, c, value))
    assert len(mismatched) == 204
    for r, c, value in mismatched:
        members = sorted(by_class[r["unique_str"]])
        ok = any(
            c in combo and abs(sum(combo) / k - value) <= 1
            for k in (2, 3)
            for combo in itertools.combinations_with_replacement(members, k)
        )
        assert ok, (r["index"], r["arch_str"], c, value, members)


@pytest.mark.data
def test_table_order_is_preset_order(table):
    assert sorted(r["arch_str"] for r in table) == sorted(all_nats_arch_strings())


def test_instantiated_equals_closed_form_on_a_sample():
    rng = random.Random(0)
    archs = rng.sample(all_nats_arch_strings(), 6)
    for a in archs:
        assert _instantiated(NATSNetwork(a)) == count_parameters(a)
    for a, kw in zip(archs[:4], [dict(C=8, N=2, num_classes=100), dict(C=4, N=1, num_classes=120),
                                 dict(C=8, N=1, affine=False), dict(C=6, N=3, num_classes=10)]):
        ckw = {k: v for k, v in kw.items() if k != "track_running_stats"}
        assert _instantiated(NATSNetwork(a, **kw)) == count_parameters(a, **ckw)


def test_structure_and_forward():
    net = NATSNetwork(ARCH1, C=4, N=2, num_classes=7)
    assert len(net.cells) == 3 * 2 + 2
    names = {n.split(".")[0] for n, _ in net.named_parameters()}
    assert names == {"stem", "cells", "lastact", "classifier"}
    x = torch.randn(3, 3, 16, 16)
    y = net(x)
    assert y.shape == (3, 7)
    assert net.forward_features(x).shape == (3, 16)
    with pytest.raises(ValueError, match="expects images"):
        net(torch.randn(3, 16, 16))
    # a cell whose output is always zero: the logits are the classifier bias for every image
    zero = NATSNetwork("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=4, N=1).eval()
    out = zero(torch.randn(2, 3, 8, 8))
    assert torch.allclose(out[0], out[1])


def test_bn_options():
    net = NATSNetwork(ARCH1, C=4, N=1, affine=False, track_running_stats=False)
    cell_bns = [m for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and n.startswith("cells")]
    assert cell_bns and all(not m.affine and not m.track_running_stats for m in cell_bns)
    convs = [m for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d) and ".op." in n]
    assert convs and all(m.bias is not None for m in convs)  # xautodl: bias = not affine


def test_errors():
    with pytest.raises(ArchError, match="not a NATS-Bench"):
        NATSNetwork("|dense_relu~0|")
    with pytest.raises(ArchError):
        count_parameters("|0.5*skip_connect~0|")
    with pytest.raises(ValueError, match="positive integer"):
        count_parameters(ARCH1, C=0)
