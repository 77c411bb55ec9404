"""Benchmark cases as TOML files: parsing and validation with readable errors.

A case has a name and three tables: [problem] (the SDE), [ladder] (the drift
approximators) and [sweep] (methods, target errors, paths, seed). See README for
every field.
"""
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .ladders import SyntheticLadder
from .methods import BASELINES, METHODS
from .problems import GaussianMixtureReverse, OrnsteinUhlenbeck


class SpecError(ValueError):
    """A malformed or impossible case specification."""


FAMILIES = ("ou", "gmm-sde", "gmm-ode")

# field -> (types, required, default); numbers accept int or float
_NUM = (int, float)
_PROBLEM_FIELDS = {
    "ou": {"family": (str, True, None), "dim": (int, True, None), "T": (_NUM, False, 1.0),
           "theta": (_NUM + (list,), False, 1.0), "sigma": (_NUM, False, 1.0), "x0": (_NUM + (list,), False, 1.0)},
    "gmm": {"family": (str, True, None), "dim": (int, True, None), "weights": (list, True, None),
            "means": (list, True, None), "variances": (list, True, None), "beta_min": (_NUM, False, 0.1),
            "beta_max": (_NUM, False, 20.0), "t_min": (_NUM, False, 1e-3)},
}
_LADDER_FIELDS = {"kind": (str, False, "synthetic"), "gamma": (_NUM, True, None), "levels": (int, True, None),
                  "eps1": (_NUM, True, None), "cost1": (_NUM, False, 1.0), "seed": (int, False, 0),
                  "n_features": (int, False, 8), "lengthscale": (_NUM, False, 1.0),
                  "work_per_unit": (_NUM, False, 0.0)}
_LEARNED_FIELDS = {"kind": (str, True, None), "widths": (list, True, None), "depth": (int, False, 2),
                   "train_steps": (int, False, 3000), "batch_size": (int, False, 512), "lr": (_NUM, False, 2e-3),
                   "seed": (int, False, 0), "checkpoints": (str, False, None), "measure_paths": (int, False, 400),
                   "measure_steps": (int, False, 256), "twin": (bool, False, False)}
LADDER_KINDS = ("synthetic", "learned")
_SWEEP_FIELDS = {"methods": (list, False, ["em", "mlem"]), "baselines": (list, False, []),
                 "eps": (list, True, None), "n_paths": (int, True, None),
                 "seed": (int, False, 0), "n_seeds": (int, False, 1), "batches": (int, False, 0),
                 "em_splits": (list, False, [0.5]), "var_shares": (list, False, [0.5]), "max_refine": (int, False, 6),
                 "stitch_fractions": (list, False, [0.25, 0.5, 0.75]), "share_paths": (int, False, 0),
                 "pilot_paths": (int, False, 400), "ref_factor": (int, False, 8),
                 "fit_eps": (list, False, None)}


@dataclass
class Sweep:
    """What to run: methods, baselines, target errors, knobs, paths and seeds (see README)."""

    eps: list
    n_paths: int
    methods: list = field(default_factory=lambda: ["em", "mlem"])
    baselines: list = field(default_factory=list)
    seed: int = 0
    n_seeds: int = 1         # replicates under seeds seed .. seed + n_seeds - 1
    batches: int = 10        # path batches per run, for jackknife intervals (spec default: min(10, n_paths // 2))
    em_splits: list = field(default_factory=lambda: [0.5])     # EM: share of eps^2 to the step error
    var_shares: list = field(default_factory=lambda: [0.5])    # ML-EM: share of eps^2 to the randomisation
    max_refine: int = 6
    stitch_fractions: list = field(default_factory=lambda: [0.25, 0.5, 0.75])
    share_paths: int = 0     # mlem-shared: paths per Bernoulli pattern (0: one pattern per batch)
    pilot_paths: int = 400
    ref_factor: int = 8
    fit_eps: list = None     # [largest, smallest] target eps used in the rate fit (default: all)

    @property
    def seeds(self):
        return list(range(self.seed, self.seed + self.n_seeds))

    @property
    def all_methods(self):
        return list(self.methods) + list(self.baselines)


@dataclass
class Case:
    """One benchmark case: a problem, a ladder and a sweep."""

    name: str
    problem: object
    ladder: object          # SyntheticLadder or learned.LearnedLadder
    sweep: Sweep
    source: str = "<python>"
    doc: dict = None        # the TOML document it was parsed from (None when built in Python)


def _table(doc, name, where):
    t = doc.get(name)
    if not isinstance(t, dict):
        raise SpecError(f"{where}: missing table [{name}]")
    return t


def _fields(table, schema, section, where):
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise SpecError(f"{where}: unknown field {section}.{unknown[0]}; known fields: {', '.join(sorted(schema))}")
    out = {}
    for key, (types, required, default) in schema.items():
        if key not in table:
            if required:
                raise SpecError(f"{where}: missing field {section}.{key}")
            out[key] = default
            continue
        v = table[key]
        if (isinstance(v, bool) and types is not bool) or not isinstance(v, types):
            names = "/".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise SpecError(f"{where}: field {section}.{key} must be {names} (got {type(v).__name__} {v!r})")
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"{where}: field {section}.{key} must be finite (got {v!r})")
        out[key] = v
    return out


def _wrap(where, fn, *args, **kw):
    # Library constructors raise ValueError("[section].field ..."); add the file.
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where}: {e}") from None


def build_problem(p, where):
    """Problem object from a validated [problem] table."""
    fam = p["family"]
    if fam == "ou":
        return _wrap(where, OrnsteinUhlenbeck, p["dim"], p["T"], p["theta"], p["sigma"], p["x0"])
    prob = _wrap(where, GaussianMixtureReverse, p["weights"], p["means"], p["variances"], p["beta_min"],
                 p["beta_max"], p["t_min"], ode=(fam == "gmm-ode"))
    if prob.dim != p["dim"]:
        raise SpecError(f"{where}: [problem].dim = {p['dim']} but the means have dimension {prob.dim}; make them agree")
    return prob


def build_ladder(table, problem, name, where):
    """Ladder object from a [ladder] table: synthetic (default) or learned."""
    kind = table.get("kind", "synthetic")
    if kind not in LADDER_KINDS:
        raise SpecError(f"{where}: unknown [ladder].kind {kind!r}; use one of {', '.join(LADDER_KINDS)}")
    if kind == "synthetic":
        lraw = _fields(table, _LADDER_FIELDS, "[ladder]", where)
        lraw.pop("kind")
        return _wrap(where, SyntheticLadder, **lraw)
    from .learned import LearnedLadder
    lraw = _fields(table, _LEARNED_FIELDS, "[ladder]", where)
    lraw.pop("kind")
    if not isinstance(problem, GaussianMixtureReverse):
        raise SpecError(f"{where}: [ladder].kind = 'learned' trains score networks of a Gaussian mixture; "
                        f"it needs [problem].family gmm-sde or gmm-ode (got {problem.family})")
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in lraw["widths"]):
        raise SpecError(f"{where}: [ladder].widths must be a list of integers (got {lraw['widths']!r})")
    # checkpoint folders are relative to the working directory, like --out
    lraw["checkpoints"] = lraw["checkpoints"] or f"models/{name}"
    return _wrap(where, LearnedLadder, problem, **lraw)


def parse_case(doc, where="<spec>"):
    """Case from a parsed TOML document (a dict); raises SpecError naming the field."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: missing field name (a non-empty string)")
    extra = sorted(set(doc) - {"name", "problem", "ladder", "sweep"})
    if extra:
        raise SpecError(f"{where}: unknown top-level entry {extra[0]!r}; expected name, [problem], [ladder], [sweep]")
    praw = _table(doc, "problem", where)
    fam = praw.get("family")
    if fam not in FAMILIES:
        raise SpecError(f"{where}: unknown [problem].family {fam!r}; use one of {', '.join(FAMILIES)}")
    p = _fields(praw, _PROBLEM_FIELDS["ou" if fam == "ou" else "gmm"], "[problem]", where)
    problem = build_problem(p, where)
    ladder = build_ladder(_table(doc, "ladder", where), problem, name, where)
    s = _fields(_table(doc, "sweep", where), _SWEEP_FIELDS, "[sweep]", where)
    for key, known, what in (("methods", METHODS, "method"), ("baselines", BASELINES, "baseline")):
        bad = [m for m in s[key] if m not in known]
        if bad:
            raise SpecError(f"{where}: [sweep].{key} has unknown {what} {bad[0]!r}; use a list from {', '.join(known)}")
    if not s["methods"] and not s["baselines"]:
        raise SpecError(f"{where}: empty sweep: [sweep].methods and [sweep].baselines are both empty; "
                        f"list at least one of {', '.join(METHODS)}")
    eps = s["eps"]
    if not eps or any(isinstance(e, bool) or not isinstance(e, _NUM) or not (0 < e < math.inf) for e in eps):
        raise SpecError(f"{where}: [sweep].eps must be a non-empty list of target errors > 0 (got {eps!r})")
    if s["n_paths"] < 2:
        raise SpecError(f"{where}: [sweep].n_paths must be >= 2 (got {s['n_paths']})")
    for key in ("em_splits", "var_shares", "stitch_fractions"):
        v = s[key]
        if not v or any(isinstance(e, bool) or not isinstance(e, _NUM) or not 0 < e < 1 for e in v):
            raise SpecError(f"{where}: [sweep].{key} must be a non-empty list of numbers in (0, 1) (got {v!r})")
        s[key] = [float(e) for e in v]
    s["batches"] = s["batches"] or min(10, s["n_paths"] // 2)
    if not 2 <= s["batches"] <= s["n_paths"] // 2:
        raise SpecError(f"{where}: [sweep].batches must be in 2..n_paths/2 = 2..{s['n_paths'] // 2} "
                        f"(got {s['batches']})")
    if s["n_seeds"] < 1:
        raise SpecError(f"{where}: [sweep].n_seeds must be >= 1 (got {s['n_seeds']})")
    if s["share_paths"] < 0:
        raise SpecError(f"{where}: [sweep].share_paths must be >= 1, or 0 for one pattern per batch (got {s['share_paths']})")
    s["share_paths"] = s["share_paths"] or max(1, s["n_paths"] // s["batches"])
    for key, lo in (("max_refine", 0), ("pilot_paths", 2), ("ref_factor", 2)):
        if s[key] < lo:
            raise SpecError(f"{where}: [sweep].{key} must be >= {lo} (got {s[key]})")
    if s["ref_factor"] & (s["ref_factor"] - 1):
        raise SpecError(f"{where}: [sweep].ref_factor must be a power of two (got {s['ref_factor']})")
    fe = s["fit_eps"]
    if fe is not None and (len(fe) != 2 or not all(isinstance(e, _NUM) and e > 0 for e in fe) or fe[0] < fe[1]):
        raise SpecError(f"{where}: [sweep].fit_eps must be [largest, smallest] target eps, both > 0 (got {fe!r})")
    s["eps"] = [float(e) for e in eps]
    return Case(name, problem, ladder, Sweep(**s), where, doc)


def load_doc(path):
    """The parsed TOML document of a case file (a dict), not yet validated."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None


def load_case(path):
    """Parse and validate one TOML case file."""
    return parse_case(load_doc(path), str(path))
