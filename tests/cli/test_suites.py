"""The shipped suites parse, and their cases are independent experiments: seeds left out of a
spec are derived from the case name, so no two shipped synthetic cases share a ladder draw or
paths unless their specs say so. No kernel runs here."""
import pytest

from mlem_bench.cli import SUITES, default_specs, main
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.numerics.rng import name_seed
from mlem_bench.sweep.spec import load_case, load_doc, parse_case


def synthetic_cases():
    cases = [load_case(p) for suite in SUITES for p in default_specs(suite)]
    return [c for c in cases if isinstance(c.ladder, SyntheticLadder)]


def test_every_shipped_suite_parses():
    for suite in SUITES:
        assert [load_case(p).name for p in default_specs(suite)]


def test_shipped_synthetic_cases_draw_their_own_ladders_and_paths():
    cases = synthetic_cases()
    assert len(cases) == 19     # 5 default, 8 extra, 6 asymptotic
    ladder_seeds = [c.ladder.seed for c in cases]
    sweep_seeds = [c.sweep.seed for c in cases]
    assert len(set(ladder_seeds)) == len(cases) and len(set(sweep_seeds)) == len(cases)
    for c in cases:
        assert c.ladder.seed == name_seed(c.name, "ladder") and c.sweep.seed == name_seed(c.name, "sweep")


def test_a_seed_the_spec_sets_is_kept(tmp_path):
    doc = load_doc(default_specs("default")[0])
    doc["ladder"]["seed"], doc["sweep"]["seed"] = 7, 11
    case = parse_case(doc, "x")
    assert (case.ladder.seed, case.sweep.seed) == (7, 11)
    # the derived seeds depend on the name and the role only
    assert name_seed("a", "ladder") == name_seed("a", "ladder") != name_seed("b", "ladder")
    assert name_seed("a", "ladder") != name_seed("a", "sweep")


def test_asymptotic_suite_reaches_far_below_the_coarsest_level():
    cases = {c.name: c for c in (load_case(p) for p in default_specs("asymptotic"))}
    assert len(cases) == 6
    for name, c in cases.items():
        assert c.sweep.replicates == 8 and c.ladder.levels == 28 and c.ladder.work_per_unit == 0
        assert min(c.sweep.eps) <= (5e-5 if "gmm" in name else 1.3e-5)
        assert c.ladder.structure == ("independent" if name.endswith("independent") else "nested")


def test_suite_and_spec_files_together_are_refused(capsys):
    assert main(["run", "--suite", "asymptotic", str(default_specs("default")[0])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give spec files or --suite, not both" in err[0]


@pytest.mark.parametrize("suite", ["nope"])
def test_unknown_suite_is_an_argparse_error(suite, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--suite", suite])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
