"""The table `mlem-bench measure` writes and `predict` reads (`write_levels`, `read_levels`),
the options that carry a CSV table's scalars (`predict_options`), and the configuration the
samplers are given (`cheapest_config`), on the hand-derived table of tests/predict_by_hand.py."""
import pytest

from mlem_bench.analysis.predict import SCALARS, cheapest_config, error_model, predict_options, read_levels, write_levels
from mlem_bench.errors import TuningError
from predict_by_hand import C_H, EPS, LEVELS, T, em_optimum

ODD = [{"cost": 0.1 * 3 ** i + 1e-3 / 7, "error": 1 / 3 / (i + 1), "delta": 2 / 7 * i} for i in range(3)]   # repr round trips


def test_toml_table_reads_back_exactly_with_its_scalars_and_comments(tmp_path):
    path = tmp_path / "t.toml"
    scalars = {"T": 0.999, "c_h": 1 / 3, "c_v": 0.0888, "min_steps": 16}
    write_levels(path, ODD, scalars, comments=["measured here", "second line"])
    text = path.read_text()
    assert text.startswith("# measured here\n# second line\n") and text.count("[[level]]") == 3
    levels, got = read_levels(path)
    assert levels == [{k: r[k] for k in ("cost", "error", "delta")} for r in ODD]
    assert got == scalars


def test_csv_table_holds_the_levels_and_the_options_hold_the_scalars(tmp_path):
    path = tmp_path / "t.csv"
    write_levels(path, ODD, {"T": 2.0})
    levels, got = read_levels(path)
    assert levels == ODD and got == {}
    assert path.read_text().splitlines()[0] == "cost,error,delta"
    # every scalar, in SCALARS' order, with its flag; None and missing ones left out
    opts = predict_options({"min_steps": 8, "c_v": 1.5, "T": 1.0, "c_h": None, "pilot_h": 0.25, "pilot_error": 0.1})
    assert opts == "--T 1.0 --pilot-h 0.25 --pilot-error 0.1 --c_v 1.5 --min-steps 8"
    assert list(SCALARS) == ["T", "c_h", "pilot_h", "pilot_error", "c_v", "min_steps"]
    with pytest.raises(ValueError, match="unknown scalar 'c_x'"):
        write_levels(tmp_path / "u.toml", ODD, {"c_x": 1.0})


def test_cheapest_config_is_the_enumerated_em_optimum_and_refuses_the_unreachable():
    model, ladder = error_model(LEVELS, T, c_h=C_H)
    knob, cfg = cheapest_config(model, ladder, "em", EPS)
    k, n, cost = em_optimum(EPS)
    assert (cfg.level, cfg.n_steps, cfg.predicted_cost) == (k, n, cost), (knob, cfg)
    knob, ml = cheapest_config(model, ladder, "mlem", EPS)
    assert ml.predicted_error <= EPS and ml.predicted_cost < cost
    # no knob of ML-EM reaches a target below the finest level's bias (0.004)
    with pytest.raises(TuningError, match="no mlem configuration reaches the target error 0.003"):
        cheapest_config(model, ladder, "mlem", 0.003)
