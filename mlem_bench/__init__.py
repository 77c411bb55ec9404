"""mlem_bench: Multilevel Euler-Maruyama against Euler-Maruyama on SDEs with known answers."""
__version__ = "0.2.0"

from .experiment import make_executor, run_sweep  # noqa: E402
from .ladders import SyntheticLadder  # noqa: E402
from .problems import GaussianMixtureReverse, OrnsteinUhlenbeck, UserProblem  # noqa: E402
from .report import render_report  # noqa: E402
from .solve import PathExplosionError, solve, strong_error  # noqa: E402
from .spec import Case, SpecError, Sweep, load_case  # noqa: E402
from .tuning import TuningError, calibrate, tune_em, tune_mlem  # noqa: E402

__all__ = ["SyntheticLadder", "GaussianMixtureReverse", "OrnsteinUhlenbeck", "UserProblem", "run_sweep",
           "make_executor", "render_report", "PathExplosionError", "solve", "strong_error", "Case", "SpecError",
           "Sweep", "load_case", "TuningError", "calibrate", "tune_em", "tune_mlem"]
