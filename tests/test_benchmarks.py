"""benchmarks/cells.py's bookkeeping (not its timings): the linear maps it counts for each model are the
model's own weight matrices, and the least times behind its "ceiling" and "bound" columns."""

from __future__ import annotations

import pytest

H = 6


@pytest.fixture(scope="module")
def cells(load_script):
    return load_script("benchmarks/cells.py")


def test_counted_maps_are_the_models_weight_matrices(cells):
    for name, (make, maps, recurrent) in cells.models(H).items():
        weights = {n: p for n, p in make().named_parameters() if p.dim() == 2}
        # the FLOP formula counts H x H maps: a (k H, H) matrix is k of them (RHN's h and transform gate)
        assert all(p.shape[1] == H and p.shape[0] % H == 0 for p in weights.values()), name
        assert sum(p.shape[0] // H for p in weights.values()) == maps, name
        # inside the recurrence: the maps fed by h_{t-1} (W_hh, W_1, the shortcuts) or by a block of the same
        # step (W_2..W_L); torch.nn.RNN and StackedRNN call theirs weight_hh_l{k}, DTRNN's blocks and RHN's
        # highway layers weight_hh / weight_shortcut
        inside = [p for n, p in weights.items() if "weight_hh" in n or "weight_shortcut" in n]
        assert sum(p.shape[0] // H for p in inside) == recurrent, name


def test_least_seconds_by_hand(cells):
    # torch.nn.RNN: 2 maps, 1 recurrent. Work done: 5 units (no gradient w.r.t. the batch); 2 of them
    # (forward and dh of W_hh) step by step. Unit 1 GFLOP, per-step rate 50, peak 100 GFLOP/s.
    at_peak, least = cells.least_seconds(2, 1, 1.0, 50.0, 100.0)
    assert at_peak == pytest.approx(5 / 100)
    assert least == pytest.approx(2 / 50 + 3 / 100)
    # dts-rnn of depth 2: 4 maps (U, W_1, S_2, W_2), 3 recurrent: 11 units done, 6 step by step
    at_peak, least = cells.least_seconds(4, 3, 2.0, 50.0, 100.0)
    assert at_peak == pytest.approx(22 / 100)
    assert least == pytest.approx(12 / 50 + 10 / 100)
