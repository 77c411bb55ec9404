"""Synthetic twins of learned cases: the gamma-ladder the theory describes, beside the learned one."""
import numpy as np

from ..ladders.synthetic import SyntheticLadder
from ..numerics.kernels import DIAG_ERR
from ..numerics.solve import solve
from .spec import Case


def synthetic_twin(case):
    """The case with its learned ladder replaced by a synthetic one of the same measured
    gamma, levels, c_1 and measured level-1 error: the gamma-ladder the theory describes,
    run on the same problem and sweep, so the report can say whether the theory predicts
    what the learned ladder does.

    A synthetic ladder's eps1 bounds |f^1 - f|; its RMS along trajectories is a fixed
    fraction of it (f^l - f = eps_l u_l), measured here on the same trajectories as the
    learned ladder's eps_l, so that both ladders start equally accurate.
    """
    lad = case.ladder
    table = {"gamma": round(lad.gamma, 3), "levels": lad.levels, "eps1": 1.0, "cost1": float(lad.cost[1]),
             "seed": lad.seed}
    m = lad.family["measure"]
    unit = solve(case.problem, SyntheticLadder(**table), "diag", 0, m["steps"], m["paths"], m["seed"])
    rms_per_eps1 = float(np.sqrt(unit.diag.mean(axis=0)[1, DIAG_ERR] / m["steps"]))
    table["eps1"] = round(float(lad.eps[1]) / rms_per_eps1, 4)
    doc = None
    if case.doc is not None:
        doc = {**case.doc, "name": f"{case.name}-twin", "ladder": table}
    return Case(f"{case.name}-twin", case.problem, SyntheticLadder(**table), case.sweep, case.source, doc)
