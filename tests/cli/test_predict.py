"""`mlem-bench predict`: a per-level table (CSV or TOML) -> the predicted speed-up curve, the
ML-EM configurations behind it and a plot; bad tables are one-line errors."""
import pytest

from helpers import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "predict-ladder.csv"


def test_predict_from_csv_prints_the_curve_and_plots(tmp_path):
    png = tmp_path / "s.png"
    r = run_cli(["predict", str(EXAMPLE), "--T", "0.999", "--c-h", "1.0", "--min-steps", "32", "--plot", str(png)])
    assert r.returncode == 0, r.stderr
    assert "predicted speed-up S(e)" in r.stdout and "top_evals" in r.stdout
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
