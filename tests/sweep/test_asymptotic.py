"""The rate claim where theory makes it: a reduced copy of the asymptotic suite's OU gamma = 3
case (mlem_bench/suite/asymptotic/ou-2d-g3-asymptotic.toml: 28 levels, counted cost, 100
paths), only its targets of the smallest two decades down to about 3e-5 (4.4e-3 down to
3.45e-5, seven per decade, 15 targets), R = 4 replicates (each its own ladder draw, pilot and
paths).

Over the smallest decade [3.45e-5, 3.45e-4], the median over replicates of ML-EM's local cost
exponent lies within 0.2 of theory (gamma = 3) and the median local speed-up exponent
(EM's local exponent minus ML-EM's) within 0.25 of 1. Tolerances from the issue; the error
model on an ideal ladder predicts about 3.09 for ML-EM over this decade (finite level sums), so
the ML-EM tolerance leaves about 0.1 for the ladder draw and the paths. Measured: ML-EM 3.12,
speed-up exponent 0.84 (docs/asymptotic.md).
"""
import numpy as np
import pytest

from helpers import SUITE
from mlem_bench.analysis.curves import decades, local_exponent_table, local_exponents
from mlem_bench.analysis.rates import pooled
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.sweep.spec import load_doc, parse_case

pytestmark = pytest.mark.slow   # started first under xdist (conftest.SLOW_FIRST)

REPLICATES = 4
TARGETS = slice(7, 22)  # the shipped targets 0.05 x 2^(-k/2), k = 7..21: 4.4e-3 down to 3.45e-5


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    doc = load_doc(SUITE / "asymptotic" / "ou-2d-g3-asymptotic.toml")
    doc["sweep"]["eps"] = doc["sweep"]["eps"][TARGETS]
    doc["sweep"]["replicates"] = REPLICATES
    case = parse_case(doc, "ou-2d-g3-asymptotic (reduced)")
    results = run_sweep([case], tmp_path_factory.mktemp("asymptotic") / "out", progress=False)["results"]
    table = local_exponent_table(local_exponents(pooled(results)))
    smallest = min(lo for _, lo in decades(case.sweep.eps))
    return case, table[np.isclose(table.eps_lo, smallest)].set_index("quantity")


def test_the_reduced_sweep_spans_two_decades_of_every_replicate(local):
    case, x = local
    assert len(decades(case.sweep.eps)) == 2 and len(case.sweep.eps) == 15
    assert min(case.sweep.eps) == pytest.approx(3.45e-5, rel=1e-3)
    assert (x["n"] == REPLICATES).all(), x


def test_mlem_local_exponent_over_the_smallest_decade_matches_theory(local):
    _, x = local
    r = x.loc["mlem"]
    assert r.theory == 3.0 and abs(r["median"] - r.theory) <= 0.2, x


def test_speedup_local_exponent_over_the_smallest_decade_matches_theory(local):
    _, x = local
    r = x.loc["speedup-em"]
    assert r.theory == 1.0 and abs(r["median"] - r.theory) <= 0.25, x
