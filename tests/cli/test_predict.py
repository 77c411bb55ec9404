"""`mlem-bench predict`: a per-level table (CSV or TOML) -> the predicted speed-up curve, the
ML-EM configurations behind it and a plot; bad tables are one-line errors."""
import math

import pytest

from helpers import ROOT, run_cli
from predict_by_hand import C_H, EPS, LEVELS, T, by_hand, em_optimum

EXAMPLE = ROOT / "examples" / "predict-ladder.csv"


def printed(value, want, rel=0.0):
    """True if `value`, printed with 3 significant digits, is `want` rounded so (half a unit
    in the third digit), allowing a relative error `rel` of `want` itself."""
    return abs(value - want) <= 0.5 * 10.0 ** (math.floor(math.log10(abs(want))) - 2) + rel * abs(want)


def test_predict_from_csv_prints_the_hand_derived_answer_and_plots(tmp_path):
    # The three-level table of tests/predict_by_hand.py through the CLI, targets 0.02 and
    # 0.01, knobs 1/2 (the tuner's step refinements on, as in a sweep). At 0.01 the printed
    # numbers must be the hand-derived ones: ML-EM at level 3, 128 steps, p = (1, 0.942, 0.114)
    # (SLSQP, to its 1e-4), n p_3 = 14.6 top-level evaluations per path and cost 5.81e3; EM's
    # frontier at 0.01 the cheapest (level, power-of-two steps) by enumeration, 64 steps of
    # level 3 = 1.64e4 (the 0.02 target's configuration already meets 0.01); S = 2.82.
    table = tmp_path / "ladder.csv"
    table.write_text("cost,error,delta\n" + "".join(f"{r['cost']},{r['error']},{r['delta']}\n" for r in LEVELS))
    png = tmp_path / "s.png"
    r = run_cli(["predict", str(table), "--T", str(T), "--c-h", str(C_H), "--splits", "0.5", "--var-shares", "0.5",
                 "--eps-max", str(2 * EPS), "--eps-min", str(EPS), "--n", "2", "--plot", str(png)])
    assert r.returncode == 0, r.stderr
    curve, configs = (s for s in r.stdout.split("\n\n## ")[1:3])
    assert curve.startswith("predicted speed-up S(e)") and configs.startswith("ML-EM configuration")
    row = {float(line.split()[0]): line.split() for line in curve.strip().splitlines()[2:]}[EPS]
    cfg = {float(line.split()[0]): line.split() for line in configs.split("\n\n")[0].splitlines()[2:]}[EPS]
    want, em = by_hand(), em_optimum(EPS)
    assert (em[0], em[1]) == (3, 64)
    cost_em, cost_mlem, speedup = map(float, row[1:])
    assert printed(cost_em, em[2]) and printed(cost_mlem, want["mlem_cost"], 1e-4), row
    assert printed(speedup, em[2] / want["mlem_cost"], 1e-4), row
    assert int(cfg[1]) == want["level"] and int(cfg[2]) == want["n"], cfg
    probs, top_evals = [float(v) for v in cfg[5:-1]], float(cfg[-1])
    assert probs[0] == 1 and all(printed(p, q, 1e-4) for p, q in zip(probs[1:], want["p"])), cfg
    assert printed(top_evals, want["n"] * want["p"][1], 1e-4), cfg
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def test_predict_from_toml_with_a_pilot_measurement(tmp_path):
    t = tmp_path / "ladder.toml"
    rows = "".join(f"[[level]]\ncost = {c}\nerror = {e}\ndelta = {d}\n"
                   for c, e, d in [(1, 0.2, 0), (6, 0.05, 0.3), (36, 0.012, 0.08), (216, 0.003, 0.02)])
    t.write_text(f"T = 1.0\npilot_h = 0.0625\npilot_error = 0.1\n{rows}")
    r = run_cli(["predict", str(t)])
    assert r.returncode == 0, r.stderr
    assert "c_h 1.6" in r.stdout


@pytest.mark.parametrize("text,match", [
    ("cost,error\n1,0.1\n2,0.05\n", "column 'delta'"),
    ("cost,error,delta\n3,0.1,0\n2,0.05,0.1\n", "cost must be > 0 and increase"),
    ("cost,error,delta\n1,0.1,0\n", "at least 2 levels"),
])
def test_bad_tables_are_one_line_errors(tmp_path, text, match):
    f = tmp_path / "t.csv"
    f.write_text(text)
    r = run_cli(["predict", str(f), "--T", "1", "--c-h", "1"])
    assert r.returncode == 2 and match in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_predict_needs_the_step_constant(tmp_path):
    r = run_cli(["predict", str(EXAMPLE), "--T", "1"])
    assert r.returncode == 2 and "give c_h" in r.stderr and r.stderr.count("\n") == 1
