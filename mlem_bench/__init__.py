"""mlem_bench: Multilevel Euler-Maruyama against Euler-Maruyama on SDEs with known answers."""
from .ladders import SyntheticLadder
from .problems import GaussianMixtureReverse, OrnsteinUhlenbeck, UserProblem
from .report import write_outputs
from .runner import run_case
from .solve import PathExplosionError, solve, strong_error
from .spec import Case, SpecError, Sweep, load_case
from .tuning import TuningError, calibrate, tune_em, tune_mlem

__all__ = ["SyntheticLadder", "GaussianMixtureReverse", "OrnsteinUhlenbeck", "UserProblem", "write_outputs",
           "run_case", "PathExplosionError", "solve", "strong_error", "Case", "SpecError", "Sweep", "load_case",
           "TuningError", "calibrate", "tune_em", "tune_mlem"]
__version__ = "0.1.0"
