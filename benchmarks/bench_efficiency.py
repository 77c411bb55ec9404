"""Algorithmic efficiency tracked over commits: fitted exponents, speed-up, top-level evaluations.

One small gamma = 2.5 OU sweep runs once (setup_cache); every track_ reads its table, so
a regression in the method or the tuner shows in asv history like a regression in speed.
"""

import tempfile

from mlem_bench.analysis.rates import fit_rates, pooled, speedups
from mlem_bench.sweep.driver import run_sweep
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.sweep.spec import Case, Sweep


class EfficiencyOU:
    timeout = 600

    def setup_cache(self):
        case = Case("ou-2d-g2.5-small", OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.5, levels=12, eps1=1.0),
                    Sweep(eps=[0.05, 0.025, 0.0125, 0.00625, 0.003125], n_paths=500, pilot_paths=200))
        with tempfile.TemporaryDirectory() as d:
            results = run_sweep([case], d, progress=False)["results"]
        return pooled(results)

    def track_em_slope(self, results):
        return float(fit_rates(results).set_index("method").loc["em", "slope"])

    def track_mlem_slope(self, results):
        return float(fit_rates(results).set_index("method").loc["mlem", "slope"])

    def track_speedup(self, results):
        s = speedups(results)
        return float(s[s.method == "em"].speedup.iloc[0])

    def track_mlem_top_evals_smallest_eps(self, results):
        ml = results[results.method == "mlem"]
        return float(ml.loc[ml.eps_target.idxmin(), "top_evals"])

    def track_mlem_error_smallest_eps(self, results):
        ml = results[results.method == "mlem"]
        return float(ml.loc[ml.eps_target.idxmin(), "error"])

    track_em_slope.unit = track_mlem_slope.unit = "d log cost / d log error"
    track_speedup.unit = "x"
    track_mlem_top_evals_smallest_eps.unit = "evaluations per path"
    track_mlem_error_smallest_eps.unit = "strong error"
