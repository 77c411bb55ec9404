"""`analysis.predict`'s pieces by hand: the per-level table reader and its one-line errors, the
error model it fills in, the default target grid, the ideal geometric ladder, and the ML-EM
configuration read at each error of the curve. Pure Python on tiny tables."""
import numpy as np
import pandas as pd
import pytest

from mlem_bench.analysis.predict import best_at, default_grid, error_model, geometric_levels, read_levels
from mlem_bench.errors import SpecError

LEVELS = [{"cost": 1.0, "error": 0.3, "delta": 0.0}, {"cost": 4.0, "error": 0.1, "delta": 0.2},
          {"cost": 16.0, "error": 0.01, "delta": 0.05}]


def test_error_model_fills_level_zero_and_the_scalars():
    m, lad = error_model(LEVELS, T=2.0, c_h=0.5, c_v=1.5, min_steps=4)
    np.testing.assert_array_equal(m.bias, [0.0, 0.3, 0.1, 0.01])
    np.testing.assert_array_equal(m.delta, [0.0, 0.0, 0.2, 0.05])          # delta_1 is not used
    np.testing.assert_array_equal(lad.cost, [0.0, 1.0, 4.0, 16.0])
    assert (lad.levels, m.c_h, m.c_v, m.T, m.min_steps) == (3, 0.5, 1.5, 2.0, 4)
    # c_h from a pilot measurement: error / h
    assert error_model(LEVELS, T=1.0, pilot_h=0.25, pilot_error=0.1)[0].c_h == pytest.approx(0.4)


@pytest.mark.parametrize("kwargs,match", [
    ({"T": None, "c_h": 1.0}, "T \\(the time horizon\\) must be given and > 0"),
    ({"T": 0.0, "c_h": 1.0}, "T \\(the time horizon\\) must be given and > 0"),
    ({"T": 1.0}, "^give c_h \\(EM's step-error constant\\), or pilot_h and pilot_error \\(a pilot's EM error at "
                  "step h, c_h = error / h\\)$"), ({"T": 1.0, "pilot_h": 0.1}, "give c_h"),
    ({"T": 1.0, "pilot_h": 0.0, "pilot_error": 0.1}, "pilot_h and pilot_error must be > 0"),
    ({"T": 1.0, "pilot_h": 0.1, "pilot_error": 0.0}, "pilot_h and pilot_error must be > 0"),
    ({"T": 1.0, "c_h": 0.0}, "c_h and c_v must be > 0"), ({"T": 1.0, "c_h": 1.0, "c_v": 0.0}, "c_h and c_v must be > 0"),
])
def test_error_model_rejects_bad_scalars(kwargs, match):
    with pytest.raises(SpecError, match=match):
        error_model(LEVELS, **kwargs)


def test_default_grid_by_hand():
    # hi = 2 max(b_1, c_h T / min_steps) = 2 x 0.3; lo = 1.01 b_L / sqrt(1 - 0.7) above hi / 100
    m, _ = error_model(LEVELS, T=1.0, c_h=1.0, min_steps=8)
    np.testing.assert_allclose(default_grid(m, (0.3, 0.5, 0.7)), np.geomspace(0.6, 1.01 * 0.01 / np.sqrt(0.3), 16))
    # the step error of the coarsest stable grid dominates: hi = 2 x 0.5 x 2 / 2; a tiny finest bias: lo = hi / 100
    tiny = [dict(r) for r in LEVELS]
    tiny[-1]["error"] = 1e-9
    m, _ = error_model(tiny, T=2.0, c_h=0.5, min_steps=2)
    np.testing.assert_allclose(default_grid(m, (0.5,), n=5), np.geomspace(1.0, 0.01, 5))


def test_geometric_levels_are_the_rate_table_assumptions():
    assert geometric_levels(2.0, 3, eps1=0.5, delta_factor=1.5) == [
        {"cost": 1.0, "error": 0.5, "delta": 0.75}, {"cost": 4.0, "error": 0.25, "delta": 0.375},
        {"cost": 16.0, "error": 0.125, "delta": 0.1875}]


def test_best_at_is_the_cheapest_mlem_configuration_reaching_each_error():
    configs = pd.DataFrame({
        "method": ["mlem", "mlem", "mlem", "em"], "level": [2, 3, 3, 3], "n_steps": [8, 16, 32, 64],
        "knob": ["a", "b", "c", "d"], "pred_error": [0.1, 0.05, 0.02, 0.001], "pred_cost": [10.0, 30.0, 20.0, 1.0],
        "probs": [[0.5], [0.25, 0.125], [1 / 3, 0.1], [1.0, 1.0]], "top_evals": [4.0, 2.0, 3.2, 64.0]})
    curve = pd.DataFrame({"error": [0.1, 0.05, 0.01]})
    want = pd.DataFrame({"error": [0.1, 0.05], "level": [2, 3], "n_steps": [8, 32], "knob": ["a", "c"],
                         "probs": ["0.5", "0.333 0.1"], "top_evals": [4.0, 3.2]})
    # at 0.05 the 0.02 configuration is cheaper than the 0.05 one; nothing of ML-EM reaches 0.01
    pd.testing.assert_frame_equal(best_at(configs, curve), want)


def test_read_levels_csv_and_toml(tmp_path):
    c = tmp_path / "t.csv"
    c.write_text("cost,error,delta\n1,0.3,0\n4,0.1,0.2\n")
    assert read_levels(c) == ([{"cost": 1.0, "error": 0.3, "delta": 0.0}, {"cost": 4.0, "error": 0.1, "delta": 0.2}], {})
    t = tmp_path / "t.toml"
    t.write_text("T = 2.0\nc_v = 1.5\n[[level]]\ncost = 1\nerror = 0.3\ndelta = 0\n[[level]]\ncost = 4\nerror = 0.1\n"
                 "delta = 0.2\n")
    levels, scalars = read_levels(t)
    assert scalars == {"T": 2.0, "c_v": 1.5} and [r["cost"] for r in levels] == [1.0, 4.0]


@pytest.mark.parametrize("name,text,match", [
    ("t.toml", "T = [", "not valid TOML"),
    ("t.toml", "T = 1.0\n", "missing \\[\\[level\\]\\] tables"),
    ("t.toml", "T = 1.0\nspeed = 2\nzeta = 1\n[[level]]\ncost = 1\nerror = 0.1\ndelta = 0\n",
     "unknown key 'speed'; known: T, c_h, pilot_h, pilot_error, c_v, min_steps and \\[\\[level\\]\\]"),
    ("t.csv", "cost,error,delta\n1,0.1,0\n2,x,0.1\n",
     "level 2 needs a number in column 'error' \\(columns: cost, error, delta\\)"),
    ("t.csv", "cost,error,delta\n1,0.1,0\n2,-0.05,0.1\n", "level 2 error must be a finite number >= 0"),
    ("t.csv", "cost,error,delta\n1,0.1,0\n2,inf,0.1\n", "level 2 error must be a finite number >= 0"),
    ("t.csv", "cost,error,delta\n0,0.1,0\n2,0.05,0.1\n", "cost must be > 0 and increase"),
    ("t.csv", "cost,error,delta\n2,0.1,0\n2,0.05,0.1\n", "cost must be > 0 and increase"),
    ("t.csv", "cost,error,delta\n1,0.1,0\n", "at least 2 levels \\(got 1\\)"),
])
def test_read_levels_errors_name_the_field(tmp_path, name, text, match):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(SpecError, match=match):
        read_levels(f)
    with pytest.raises(SpecError, match="no such table"):
        read_levels(tmp_path / "missing.csv")


def test_predict_rows_and_curve_on_the_targets():
    from mlem_bench.analysis.curves import CURVE_COLUMNS
    from mlem_bench.analysis.predict import predict
    m, lad = error_model(LEVELS, T=1.0, c_h=0.5)
    configs, curve = predict(m, lad, splits=(0.5,), var_shares=(0.5,), eps=[0.2, 0.05, 0.02])
    for r in configs.itertuples():
        # probabilities of levels 1..k; expected top-level evaluations per path: n p_k (EM: n)
        assert len(r.probs) == r.level and r.probs[0] == 1.0
        assert r.top_evals == pytest.approx(r.n_steps * (r.probs[-1] if r.method == "mlem" else 1.0), rel=1e-12)
    assert set(configs.method) == {"em", "mlem"} and list(configs.eps_target.unique()) == [0.2, 0.05, 0.02]
    assert 2 in set(configs.level) and 3 in set(configs.level)           # a level below the top too
    # the curve is read on the targets themselves: S = EM's cost over ML-EM's (one knob each)
    assert list(curve.columns) == CURVE_COLUMNS and list(curve.error) == [0.2, 0.05, 0.02]
    assert list(curve.index) == [0, 1, 2]
    by = configs.set_index(["eps_target", "method"]).pred_cost
    assert curve.speedup.tolist() == pytest.approx([by[(e, "em")] / by[(e, "mlem")] for e in (0.2, 0.05, 0.02)])
    with pytest.raises(SpecError, match="^no target error in the grid is reachable by both EM and ML-EM; the finest "
                                        "level's error is too large for the targets \\(give --eps-min/--eps-max\\)$"):
        predict(m, lad, eps=[1e-4])


def test_window_exponents_need_three_frontier_points():
    from mlem_bench.analysis.predict import window_exponents
    e = np.array([0.1, 0.05, 0.02, 0.01])
    configs = pd.DataFrame({"method": ["mlem"] * 4 + ["em"] * 4, "eps_target": np.r_[e, e], "pred_error": np.r_[e, e],
                            "pred_cost": np.r_[e ** -2.0, e ** -3.0]})
    got = window_exponents(configs, [(0.1, 0.02), (0.1, 0.05)])
    want = pd.DataFrame({"eps_hi": [0.1, 0.1], "eps_lo": [0.02, 0.05], "mlem": [2.0, np.nan], "em": [3.0, np.nan]})
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_documented_defaults_of_the_table_scalars_and_the_ideal_ladder():
    # min_steps 8 and c_v 1 when the table does not give them; delta_l = 1.5 b_l on the ideal ladder
    m, _ = error_model(LEVELS, T=1.0, c_h=1.0)
    assert (m.min_steps, m.c_v) == (8, 1.0)
    assert geometric_levels(3.0, 2) == [{"cost": 1.0, "error": 0.5, "delta": 0.75},
                                         {"cost": 8.0, "error": 0.25, "delta": 0.375}]
