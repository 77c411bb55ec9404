"""The shipped exact-target, scaled-budget ladder (mlem_bench/suite/gmm-sde-2d-exact.toml):
its measured gamma and ML-EM's speed-up, read from the trained family in models/ (made by
`mlem-bench train`, as `make run` does; skipped on a clone where it was not trained, since
training it takes minutes)."""
import pytest

from helpers import ROOT, SUITE
from mlem_bench.sweep.spec import load_doc, parse_case

pytest.importorskip("torch", reason="learned ladders need the 'learned' extra (torch==2.13.0)")

SPEC = SUITE / "gmm-sde-2d-exact.toml"
MODELS = ROOT / "models" / "gmm-sde-2d-exact"


@pytest.fixture(scope="module")
def case():
    if not (MODELS / "family.json").is_file():
        pytest.skip(f"no trained family in {MODELS}; run `mlem-bench train {SPEC.relative_to(ROOT)}`")
    doc = load_doc(SPEC)
    doc["ladder"]["checkpoints"] = str(MODELS)
    return parse_case(doc, str(SPEC))


def test_exact_ladder_spans_ten_times_in_accuracy(case):
    eps = case.ladder.eps[1:]
    assert eps[0] / eps[-1] >= 10, eps


# Measured on this 2-core machine (make run of this code): gamma 2.41 [1.24, 3.58] from eps_l =
# 0.165, 0.0529, 0.0244, 0.0251, 0.0145 (widths 8..256): level 4 (width 128) came out no better
# than level 3, and five points leave a wide interval. Training longer does not fix it (the
# longer-trained family's widths 64-256 meet at one floor: gamma 1.91, docs/learned.md). The
# claim "interval above 2" does not hold for this family; strict xfail so that a family for
# which it holds shows up as a failure to update.
@pytest.mark.xfail(strict=True, reason="measured gamma 2.41 [1.24, 3.58]: interval not above 2 (docs/learned.md)")
def test_exact_ladder_gamma_interval_lies_above_2(case):
    fam = case.ladder.family
    assert fam["gamma_lo"] > 2, (fam["gamma"], fam["gamma_lo"], fam["gamma_hi"])


def test_exact_ladder_gamma_point_estimate_is_above_2(case):
    assert case.ladder.family["gamma"] > 2


def test_exact_ladder_mlem_speedup_at_the_smallest_common_error(case, tmp_path):
    # the shipped sweep on fewer paths and its targets down to 0.013 (the smaller ones cost
    # minutes): the speed-up of ML-EM over EM in multiply-adds, read at the smallest error both
    # frontiers reach, with its jackknife interval. Measured with the full sweep (400 paths,
    # targets down to 0.0108 reached): 1.42x [1.23, 1.63]; here see the assertion message.
    from mlem_bench.analysis.rates import pooled, speedups
    from mlem_bench.sweep.driver import run_sweep
    doc = load_doc(SPEC)
    doc["ladder"]["checkpoints"] = str(MODELS)
    doc["sweep"].update(n_paths=200, eps=[e for e in doc["sweep"]["eps"] if e >= 0.013])
    results = run_sweep([parse_case(doc, str(SPEC))], tmp_path / "out", progress=False)["results"]
    s = speedups(pooled(results)).set_index("method").loc["em"]
    assert s.speedup > 1, s
