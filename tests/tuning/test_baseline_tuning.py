"""The baselines that modify ML-EM's configuration (tuning.methods) and the error model's
JSON form, on hand-made error models (no pilot run)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.tuning.calibrate import ErrorModel
from mlem_bench.tuning.configure import tune_em, tune_mlem
from mlem_bench.tuning.methods import ALL_METHODS

LADDER = SyntheticLadder(gamma=2.5, levels=8, eps1=1.0)


def model():
    delta = np.zeros(LADDER.levels + 1)
    delta[2:] = LADDER.eps[1:-1]
    return ErrorModel(1.0, LADDER.eps / 4, 1.3, delta, 1.0, 8)


def sweep(splits=(0.3, 0.5, 0.7), shares=(0.25, 0.5, 0.75)):
    return SimpleNamespace(em_splits=list(splits), var_shares=list(shares), max_refine=1, share_paths=4,
                           stitch_fractions=[0.25, 0.5])


@pytest.mark.parametrize("splits,shares,want", [((0.3, 0.5, 0.7), (0.25, 0.5, 0.75), (0.5, 0.5)),
                                                ((0.3, 0.7), (0.2, 0.6), (0.7, 0.6))])
def test_mlem_baselines_start_from_the_middle_knobs(splits, shares, want):
    # the middle entry (the upper one of an even count) of each knob list
    m, sw = model(), sweep(splits, shares)
    ref = tune_mlem(m, LADDER, 0.02, split=want[0], var_share=want[1], max_refine=1)
    label = f"split={want[0]:g} var_share={want[1]:g}"
    [(k1, shared)] = ALL_METHODS["mlem-shared"].configs(m, LADDER, 0.02, sw)
    [(k2, sched)] = ALL_METHODS["mlem-schedule"].configs(m, LADDER, 0.02, sw)
    assert k1 == f"{label} share=4" and k2 == label
    for c in (shared, sched):
        assert (c.level, c.n_steps, c.predicted_cost) == (ref.level, ref.n_steps, ref.predicted_cost)
        np.testing.assert_array_equal(c.probs, ref.probs)
    assert shared.share == 4 and shared.method == "mlem" and shared.predicted_error == ref.predicted_error
    # a deterministic schedule is a different solver, and the error model does not cover it
    assert sched.method == "schedule" and sched.share == 1 and np.isnan(sched.predicted_error)


def test_stitch_switches_from_level_1_to_the_em_level_after_its_share_of_steps():
    m, sw = model(), sweep()
    lad = SimpleNamespace(levels=LADDER.levels, cost=3 * LADDER.cost)      # c_1 = 3
    em = tune_em(m, lad, 0.02)
    out = ALL_METHODS["stitch"].configs(m, lad, 0.02, sw)
    assert [k for k, _ in out] == ["s=0.25", "s=0.5"]
    for (_, c), s in zip(out, sw.stitch_fractions):
        switch = round(s * em.n_steps)
        assert c.method == "stitch" and c.switch_step == switch and c.level == em.level
        assert c.predicted_cost == switch * lad.cost[1] + (em.n_steps - switch) * lad.cost[em.level]
        assert np.isnan(c.predicted_error)


def test_fixed_level_baselines():
    m, sw = model(), sweep()
    [(k, fine)] = ALL_METHODS["em-finest"].configs(m, LADDER, 0.02, sw)
    assert k == "level=8" and fine.level == 8
    # level 1 even where the bias budget asks for a finer one
    [(k, coarse)] = ALL_METHODS["em-coarsest"].configs(m, LADDER, 0.02, sw)
    assert k == "level=1" and coarse.level == 1 and tune_em(m, LADDER, 0.02).level > 1


def test_error_model_round_trips_through_json():
    m = model()
    m.moments = np.arange(12.0).reshape(4, 3) / 7
    m.pilot = {"seed": 3, "kind": "full"}
    back = ErrorModel.from_dict(json.loads(json.dumps(m.to_dict())))
    for k in ("bias", "delta", "moments"):
        got = getattr(back, k)
        assert isinstance(got, np.ndarray) and got.dtype == float
        np.testing.assert_array_equal(got, getattr(m, k))
    assert (back.c_h, back.c_v, back.T, back.min_steps, back.pilot) == (1.0, 1.3, 1.0, 8, m.pilot)
    # a model without pilot moments keeps None
    assert ErrorModel.from_dict(json.loads(json.dumps(model().to_dict()))).moments is None
