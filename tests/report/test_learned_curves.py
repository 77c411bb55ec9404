"""Speed-up curves of learned cases in two currencies, on hand-made tables: both read from the
same configurations, the time cost priced with each level's measured eval_ns, and the
cheapest-configuration rule written out by hand."""
import numpy as np
import pandas as pd
import pytest

from mlem_bench.analysis.curves import cheapest_cost, curve_table, time_cost
from mlem_bench.report.learned import break_even, learned_speedups


def _results():
    # two EM configurations (levels 1 and 2), two ML-EM ones (top level 2); evals per path per level
    rows = [("em", 0, 1, 0.20, 100 * 10.0, [100.0]),
            ("em", 1, 2, 0.05, 400 * 90.0, [0.0, 400.0]),
            ("mlem", 2, 2, 0.21, 100 * 10.0 + 5 * 100.0, [100.0, 5.0]),
            ("mlem", 3, 2, 0.06, 400 * 10.0 + 40 * 100.0, [400.0, 40.0])]
    return pd.DataFrame([{"case": "c", "method": m, "config": k, "level": lvl, "knob": "split=0.5", "error": e,
                          "cost": c, "evals_per_level": ev, "pred_error": e, "pred_cost": c, "seed": 0}
                         for m, k, lvl, e, c, ev in rows])


LEARNED = pd.DataFrame({"case": ["c", "c"], "level": [1, 2], "eval_ns": [50.0, 200.0], "train_macs": [1e6, 8e6],
                        "train_s": [1.0, 4.0]})


def test_cheapest_configuration_rule():
    err, cost = np.array([0.3, 0.1, 0.05]), np.array([1.0, 5.0, 20.0])
    assert list(cheapest_cost(err, cost, [0.4, 0.1, 0.06, 0.01])[:3]) == [1.0, 5.0, 20.0]
    assert np.isnan(cheapest_cost(err, cost, [0.01])[0])
    c = curve_table(err, cost, err, cost / 2)
    assert np.allclose(c.speedup, 2.0) and c.error.iloc[0] > c.error.iloc[-1]


def test_time_costs_and_speedups_come_from_the_same_configurations():
    res = _results()
    assert time_cost([400.0, 40.0], LEARNED.eval_ns) == pytest.approx(400 * 50 + 40 * 200)
    st = learned_speedups(res, "c", LEARNED)
    # at the smallest grid error both reach (10^(-9/8) = 0.075, the grid's 8 points a
    # decade, above ML-EM's 0.06): EM needs config 1, ML-EM config 3
    last = st.iloc[-1]
    assert last.error == pytest.approx(10 ** (-9 / 8))
    assert last["S macs"] == pytest.approx((400 * 90.0) / (400 * 10.0 + 40 * 100.0))
    assert last["S time"] == pytest.approx((400 * 200.0) / (400 * 50.0 + 40 * 200.0))
    # predicted errors and costs equal the measured ones in this table: so do the curves
    assert np.allclose(st["S predicted"], st["S macs"], equal_nan=True)
    be = break_even(res, "c", LEARNED, 0.06).set_index("currency")
    # ML-EM's levels 1..2 against EM's level 2: level 1's training is the extra
    assert be.loc["multiply-adds", "extra training"] == pytest.approx(1e6)
    saving = 400 * 90.0 - (400 * 10.0 + 40 * 100.0)
    assert float(be.loc["multiply-adds", "break-even samples"]) == pytest.approx(1e6 / saving, rel=1e-2)
