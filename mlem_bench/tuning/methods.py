"""The methods compared: each declares how it is configured for a target error and
its theoretical cost exponent (None for baselines, which have no rate claim).

A method returns several configurations per target eps (its own knobs: the bias split
`[sweep].em_splits`, shared by EM and ML-EM so both give the level bias the same shares
of eps^2; ML-EM's variance share of the rest; the stitch fraction); the experiment keeps
each method's Pareto frontier of (cost, error).
"""
from dataclasses import dataclass, replace
from typing import Callable, Optional

from ..errors import TuningError
from .calibrate import theory_model
from .configure import tune_em, tune_mlem


@dataclass(frozen=True)
class Method:
    """A method: `configs(model, ladder, eps, sweep)` -> [(knob, Config)], and its slope."""

    name: str
    label: str
    configs: Callable
    slope: Optional[Callable] = None   # gamma -> theoretical d log(cost) / d log(error)
    baseline: bool = False

    def theory_slope(self, gamma):
        return float("nan") if self.slope is None else float(self.slope(gamma))


def _each(knobs, tune):
    """[(knob label, Config)] over the knob values that can reach the target; TuningError
    (of the last value) only when none can: a knob that leaves too little of the error
    budget for the ladder's finest bias drops out of that target alone."""
    out, err = [], None
    for label, value in knobs:
        try:
            out.append((label, tune(value)))
        except TuningError as e:
            err = e
    if not out:
        raise err
    return out


def _em(model, ladder, eps, sw):
    return _each([(f"split={s:g}", s) for s in sw.em_splits],
                 lambda s: tune_em(model, ladder, eps, split=s))


def _mlem(model, ladder, eps, sw):
    return _each([(f"split={s:g} var_share={v:g}", (s, v)) for s in sw.em_splits for v in sw.var_shares],
                 lambda sv: tune_mlem(model, ladder, eps, split=sv[0], var_share=sv[1], max_refine=sw.max_refine))


def _mlem_theory(model, ladder, eps, sw):
    # no pilot: the theory's model from the ladder's facts (calibrate.theory_model); only
    # the horizon and the smallest stable step come from the problem
    return _mlem(theory_model(ladder, model.T, model.min_steps), ladder, eps, sw)


def _mlem_default(model, ladder, eps, sw):
    # the baselines that modify ML-EM start from its middle bias split and variance share
    s, v = sw.em_splits[len(sw.em_splits) // 2], sw.var_shares[len(sw.var_shares) // 2]
    return f"split={s:g} var_share={v:g}", tune_mlem(model, ladder, eps, split=s, var_share=v,
                                                     max_refine=sw.max_refine)


def _em_finest(model, ladder, eps, sw):
    return [(f"level={ladder.levels}", tune_em(model, ladder, eps, level=ladder.levels))]


def _em_coarsest(model, ladder, eps, sw):
    return [("level=1", tune_em(model, ladder, eps, level=1))]


def _stitch(model, ladder, eps, sw):
    em = tune_em(model, ladder, eps)
    out = []
    for s in sw.stitch_fractions:
        switch = int(round(s * em.n_steps))
        cost = switch * ladder.cost[1] + (em.n_steps - switch) * ladder.cost[em.level]
        out.append((f"s={s:g}", replace(em, method="stitch", switch_step=switch, predicted_cost=float(cost),
                                        predicted_error=float("nan"))))
    return out


def _mlem_shared(model, ladder, eps, sw):
    v, c = _mlem_default(model, ladder, eps, sw)
    return [(f"{v} share={sw.share_paths}", replace(c, share=sw.share_paths))]


def _mlem_schedule(model, ladder, eps, sw):
    v, c = _mlem_default(model, ladder, eps, sw)
    return [(v, replace(c, method="schedule", predicted_error=float("nan")))]


# gamma < 2: eps^-(1 + gamma/2); gamma > 2: eps^-gamma; gamma = 2: eps^-2 log^2 (slope -2 up to the log)
METHODS = {
    "em": Method("em", "EM", _em, lambda g: -(g + 1.0)),
    "mlem": Method("mlem", "ML-EM", _mlem, lambda g: -max(g, 1.0 + g / 2.0)),
    # ML-EM tuned without a pilot: what the measured pilot buys (same theory exponent)
    "mlem-theory": Method("mlem-theory", "ML-EM, tuned from theory (no pilot)", _mlem_theory,
                          lambda g: -max(g, 1.0 + g / 2.0)),
}

BASELINES = {
    "em-finest": Method("em-finest", "EM, finest level", _em_finest, baseline=True),
    "em-coarsest": Method("em-coarsest", "EM, coarsest level", _em_coarsest, baseline=True),
    "stitch": Method("stitch", "stitch (level 1 first, then EM's level)", _stitch, baseline=True),
    "mlem-shared": Method("mlem-shared", "ML-EM, one pattern per batch", _mlem_shared, baseline=True),
    "mlem-schedule": Method("mlem-schedule", "ML-EM, deterministic schedule", _mlem_schedule, baseline=True),
}

ALL_METHODS = {**METHODS, **BASELINES}
