"""mlem_bench: Multilevel Euler-Maruyama against Euler-Maruyama on SDEs with known answers.

Layers, bottom to top (docs/architecture.md; an import-linter contract keeps them):
numerics -> problems, ladders -> tuning -> analysis -> sweep, nets -> report -> images, perf -> cli.
"""
from .version import VERSION as __version__

from .errors import LadderError, PathExplosionError, SpecError, TuningError
from .ladders.synthetic import SyntheticLadder
from .numerics.solve import solve, strong_error
from .problems import GaussianMixtureReverse, OrnsteinUhlenbeck, UserProblem
from .report.render import render_report
from .sweep.driver import run_sweep
from .sweep.executors import make_executor
from .sweep.spec import Case, Sweep, load_case
from .tuning.calibrate import calibrate
from .tuning.configure import tune_em, tune_mlem

__all__ = ["SyntheticLadder", "GaussianMixtureReverse", "OrnsteinUhlenbeck", "UserProblem", "run_sweep",
           "make_executor", "render_report", "PathExplosionError", "solve", "strong_error", "Case", "SpecError",
           "Sweep", "load_case", "TuningError", "LadderError", "calibrate", "tune_em", "tune_mlem"]
