"""Benchmark cases as TOML files: parsing and validation with readable errors.

A case has a name and three tables: [problem] (the SDE), [ladder] (the drift
approximators) and [sweep] (methods, target errors, paths, seed); docs/spec.md lists
every field. Defaults are not written here: each field's default is the one of the
constructor it feeds (`OrnsteinUhlenbeck`, `GaussianMixtureReverse`, `SyntheticLadder`,
`LearnedLadder`, `Sweep`), and a `Sweep` built in Python is validated by the same code
as one read from TOML.
"""
import dataclasses
import inspect
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError
from ..ladders.learned import LearnedLadder, default_checkpoints
from ..ladders.synthetic import SyntheticLadder
from ..numerics.rng import MAX_SEED, MAX_TRAIN_SEED, REPLICATE_STRIDE, name_seed
from ..numerics.solve import REFERENCES
from ..problems import GaussianMixtureReverse, OrnsteinUhlenbeck
from ..tuning.calibrate import PILOTS
from ..tuning.configure import bias_budget
from ..tuning.methods import BASELINES, METHODS

FAMILIES = ("ou", "gmm-sde", "gmm-ode")
LADDER_KINDS = ("synthetic", "learned")
NUMBER = (int, float)      # a number field accepts int or float
REQUIRED = dataclasses.MISSING
# A case name is a name, never a path: it names files inside --out (with a digest of the case).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME = 100
MAX_DIM = 4096             # [problem].dim: the problem's dim x dim matrices are built while parsing


def check_case_name(name):
    """None when `name` is a valid case name, else why not (one line)."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > MAX_NAME or not NAME_PATTERN.fullmatch(name):
        return (f"must be 1 to {MAX_NAME} characters from A-Z a-z 0-9 . _ - starting with a letter or digit "
                f"(got {name[:120]!r}); it names files, never a path")
    return None


@dataclass
class Sweep:
    """What to run: methods, baselines, target errors, knobs, paths and seeds (docs/spec.md).

    Validated on construction (ValueError naming the [sweep] field); `batches = 0` and
    `share_paths = 0` mean "choose from n_paths" and are resolved here.
    """

    eps: list
    n_paths: int
    methods: list = field(default_factory=lambda: ["em", "mlem"])
    baselines: list = field(default_factory=list)
    seed: int = 0
    n_seeds: int = 1         # path seeds seed .. seed + n_seeds - 1 within a replicate (one plan)
    replicates: int = 1      # independent replicates: each its own ladder draw, pilot and paths
    batches: int = 0         # path batches per run, for jackknife intervals (0: max(2, min(10, n_paths // 2)))
    em_splits: list = field(default_factory=lambda: [0.5])     # EM: share of eps^2 to the step error
    var_shares: list = field(default_factory=lambda: [0.5])    # ML-EM: share of eps^2 to the randomisation
    max_refine: int = 6
    stitch_fractions: list = field(default_factory=lambda: [0.25, 0.5, 0.75])
    share_paths: int = 0     # mlem-shared: paths per Bernoulli pattern (0: one pattern per batch)
    pilot_paths: int = 400
    ref_factor: int = 8
    fit_eps: list = None     # [largest, smallest] target eps used in the rate fit (default: all)
    reference: str = "exact"  # errors against the exact drift's solution, or "finest": the top level's SDE
    pilot: str = "adaptive"   # the tuner's pilot: "adaptive" (climbs and samples the levels) or "full" (every level)

    def __post_init__(self):
        for key, known, what in (("methods", METHODS, "method"), ("baselines", BASELINES, "baseline")):
            bad = [m for m in getattr(self, key) if m not in known]
            if bad:
                raise ValueError(f"[sweep].{key} has unknown {what} {bad[0]!r}; use a list from {', '.join(known)}")
        if not self.methods and not self.baselines:
            raise ValueError(f"empty sweep: [sweep].methods and [sweep].baselines are both empty; "
                             f"list at least one of {', '.join(METHODS)}")
        eps = self.eps
        if not eps or any(isinstance(e, bool) or not isinstance(e, NUMBER) or not (0 < e < math.inf) for e in eps):
            raise ValueError(f"[sweep].eps must be a non-empty list of target errors > 0 (got {eps!r})")
        if self.n_paths < 2:
            raise ValueError(f"[sweep].n_paths must be >= 2 (got {self.n_paths})")
        for key in ("em_splits", "var_shares", "stitch_fractions"):
            v = getattr(self, key)
            if not v or any(isinstance(e, bool) or not isinstance(e, NUMBER) or not 0 < e < 1 for e in v):
                raise ValueError(f"[sweep].{key} must be a non-empty list of numbers in (0, 1) (got {v!r})")
            setattr(self, key, [float(e) for e in v])
        self.batches = self.batches or max(2, min(10, self.n_paths // 2))
        if not 2 <= self.batches <= self.n_paths:
            raise ValueError(f"[sweep].batches must be in 2..n_paths = 2..{self.n_paths} (got {self.batches})")
        if self.n_seeds < 1:
            raise ValueError(f"[sweep].n_seeds must be >= 1 (got {self.n_seeds})")
        if isinstance(self.replicates, bool) or not isinstance(self.replicates, int) or self.replicates < 1:
            raise ValueError(f"[sweep].replicates must be an integer >= 1 (got {self.replicates!r})")
        # the last replicate's last path seed (numerics.rng.replicate_seed) must fit too
        top = MAX_SEED - (self.n_seeds - 1) - (self.replicates - 1) * REPLICATE_STRIDE
        if not 0 <= self.seed <= top:
            raise ValueError(f"[sweep].seed must be in 0..{top} (seeds and the seeds derived from them are 64-bit; "
                             f"got {self.seed}, n_seeds {self.n_seeds}, replicates {self.replicates})")
        if self.share_paths < 0:
            raise ValueError(f"[sweep].share_paths must be >= 1, or 0 for one pattern per batch "
                             f"(got {self.share_paths})")
        self.share_paths = self.share_paths or max(1, self.n_paths // self.batches)
        for key, lo in (("max_refine", 0), ("pilot_paths", 2), ("ref_factor", 2)):
            if getattr(self, key) < lo:
                raise ValueError(f"[sweep].{key} must be >= {lo} (got {getattr(self, key)})")
        if self.ref_factor & (self.ref_factor - 1):
            raise ValueError(f"[sweep].ref_factor must be a power of two (got {self.ref_factor})")
        fe = self.fit_eps
        if fe is not None and (len(fe) != 2 or not all(isinstance(e, NUMBER) and e > 0 for e in fe) or fe[0] < fe[1]):
            raise ValueError(f"[sweep].fit_eps must be [largest, smallest] target eps, both > 0 (got {fe!r})")
        if self.reference not in REFERENCES:
            raise ValueError(f"[sweep].reference must be one of {', '.join(map(repr, REFERENCES))} "
                             f"(got {self.reference!r}): 'exact' measures errors against the exact drift's "
                             f"solution, 'finest' against the finest level's own SDE")
        if self.pilot not in PILOTS:
            raise ValueError(f"[sweep].pilot must be one of {', '.join(map(repr, PILOTS))} (got {self.pilot!r}): "
                             f"'adaptive' measures the levels a target needs on samples, 'full' every level")
        self.eps = [float(e) for e in eps]

    @property
    def seeds(self):
        return list(range(self.seed, self.seed + self.n_seeds))

    @property
    def all_methods(self):
        return list(self.methods) + list(self.baselines)

    @property
    def stop_bias(self):
        """The smallest level bias any configuration accepts (smallest target, largest bias
        split): the adaptive pilot measures levels up to the first that meets it."""
        return bias_budget(min(self.eps), max(self.em_splits))


@dataclass
class Case:
    """One benchmark case: a problem, a ladder and a sweep."""

    name: str
    problem: object
    ladder: object          # SyntheticLadder or LearnedLadder
    sweep: Sweep
    source: str = "<python>"
    doc: dict = None        # the TOML document it was parsed from (None when built in Python)

    def __post_init__(self):
        why = check_case_name(self.name)
        if why:
            raise SpecError(f"{self.source}: case name {why}")


def defaults_of(target):
    """{parameter: default} of a dataclass or a function (REQUIRED where there is none)."""
    if dataclasses.is_dataclass(target):
        out = {}
        for f in dataclasses.fields(target):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
            else:
                out[f.name] = REQUIRED
        return out
    return {k: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for k, p in inspect.signature(target).parameters.items()}


def schema(target, types, extra=None):
    """Field schema {name: (types, required, default)} from the TOML field types and the
    defaults of the constructor `target` (fields it lacks come from `extra`)."""
    defaults = {**defaults_of(target), **(extra or {})}
    return {k: (t, defaults[k] is REQUIRED, None if defaults[k] is REQUIRED else defaults[k])
            for k, t in types.items()}


_OU_TYPES = {"dim": int, "T": NUMBER, "theta": NUMBER + (list,), "sigma": NUMBER, "x0": NUMBER + (list,)}
_GMM_TYPES = {"weights": list, "means": list, "variances": list, "beta_min": NUMBER, "beta_max": NUMBER,
              "t_min": NUMBER}
_FAMILY = {"family": (str, True, None)}
PROBLEM_FIELDS = {
    "ou": {**_FAMILY, **schema(OrnsteinUhlenbeck.__init__, _OU_TYPES)},
    "gmm": {**_FAMILY, "dim": (int, True, None), **schema(GaussianMixtureReverse.__init__, _GMM_TYPES)},
}
LADDER_FIELDS = {"kind": (str, False, "synthetic"), **schema(SyntheticLadder, {
    "gamma": NUMBER, "levels": int, "eps1": NUMBER, "cost1": NUMBER, "seed": int, "n_features": int,
    "lengthscale": NUMBER, "work_per_unit": NUMBER, "structure": str})}
LEARNED_FIELDS = {"kind": (str, True, None), **schema(LearnedLadder, {
    "widths": list, "depth": int, "train_steps": int, "target": str, "weight": str, "budget": str, "batch_size": int, "lr": NUMBER, "seed": int,
    "checkpoints": str, "measure_paths": int, "measure_steps": int, "twin": bool})}
LEARNED_FIELDS["checkpoints"] = (str, False, None)     # default: the family's folder, see build_ladder
LEARNED_FIELDS["family"] = (str, False, None)          # name of the trained family (default the case name)
SWEEP_FIELDS = schema(Sweep, {
    "methods": list, "baselines": list, "eps": list, "n_paths": int, "seed": int, "n_seeds": int, "replicates": int,
    "batches": int,
    "em_splits": list, "var_shares": list, "max_refine": int, "stitch_fractions": list, "share_paths": int,
    "pilot_paths": int, "ref_factor": int, "fit_eps": list, "reference": str, "pilot": str})


def table_of(doc, name, where):
    """The table [name] of a document, or SpecError naming it."""
    t = doc.get(name)
    if not isinstance(t, dict):
        raise SpecError(f"{where}: missing table [{name}]")
    return t


def check_fields(table, schema, section, where):
    """Validate a TOML table against a field schema; returns {field: value or default}."""
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
        if section == "[problem]" and isinstance(v, list):
            check_array(v, f"{section}.{key}", where)
        out[key] = v
    return out


def array_shape(v, field, where):
    """Shape of a nested list of finite numbers; SpecError naming the field when it is
    ragged or holds anything else."""
    if not isinstance(v, list):
        if isinstance(v, bool) or not isinstance(v, NUMBER) or not math.isfinite(v):
            raise SpecError(f"{where}: field {field} must hold finite numbers only (got {v!r})")
        return ()
    if not v:
        raise SpecError(f"{where}: field {field} holds an empty list; give numbers")
    shapes = {array_shape(e, field, where) for e in v}
    if len(shapes) > 1:
        raise SpecError(f"{where}: field {field} is ragged (rows of different lengths or depths); "
                        f"give a number, a list of numbers or a list of equally long rows")
    return (len(v),) + shapes.pop()


def check_array(v, field, where):
    """A [problem] list must be a rectangular array of finite numbers of at most 2 axes."""
    if len(array_shape(v, field, where)) > 2:
        raise SpecError(f"{where}: field {field} has more than 2 axes; give a number, a list or a list of rows")


def built(where, fn, *args, **kw):
    """fn(*args, **kw), its ValueError/TypeError ("[section].field ...") turned into a
    SpecError that also names the file."""
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where}: {e}") from None


def build_problem(p, where):
    """Problem object from a validated [problem] table."""
    fam = p["family"]
    if not 1 <= p["dim"] <= MAX_DIM:
        raise SpecError(f"{where}: [problem].dim must be in 1..{MAX_DIM} (got {p['dim']})")
    if fam == "ou":
        return built(where, OrnsteinUhlenbeck, p["dim"], p["T"], p["theta"], p["sigma"], p["x0"])
    prob = built(where, GaussianMixtureReverse, p["weights"], p["means"], p["variances"], p["beta_min"],
                 p["beta_max"], p["t_min"], ode=(fam == "gmm-ode"))
    if prob.dim != p["dim"]:
        raise SpecError(f"{where}: [problem].dim = {p['dim']} but the means have dimension {prob.dim}; make them agree")
    return prob


def build_ladder(table, problem, name, where):
    """Ladder object from a [ladder] table: synthetic (default) or learned."""
    kind = table.get("kind", "synthetic")
    if not isinstance(kind, str) or kind not in LADDER_KINDS:
        raise SpecError(f"{where}: unknown [ladder].kind {kind!r}; use one of {', '.join(LADDER_KINDS)}")
    if kind == "synthetic":
        lraw = check_fields(table, LADDER_FIELDS, "[ladder]", where)
        lraw.pop("kind")
        if "seed" not in table:     # each case its own ladder draw (docs/spec.md)
            lraw["seed"] = name_seed(name, "ladder")
        check_seed(lraw["seed"], MAX_SEED, where)
        return built(where, SyntheticLadder, **lraw)
    lraw = check_fields(table, LEARNED_FIELDS, "[ladder]", where)
    lraw.pop("kind")
    if not isinstance(problem, GaussianMixtureReverse):
        raise SpecError(f"{where}: [ladder].kind = 'learned' trains score networks of a Gaussian mixture; "
                        f"it needs [problem].family gmm-sde or gmm-ode (got {problem.family})")
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in lraw["widths"]):
        raise SpecError(f"{where}: [ladder].widths must be a list of integers (got {lraw['widths']!r})")
    check_seed(lraw["seed"], MAX_TRAIN_SEED, where)
    # checkpoint folders are relative to the working directory, like --out; without one, the
    # family named [ladder].family (default the case's name) in models/ or shipped with the package
    family = lraw.pop("family")
    if family is not None and lraw["checkpoints"] is not None:
        raise SpecError(f"{where}: [ladder] gives both checkpoints and family; keep one (checkpoints is a "
                        f"folder, family the name of a trained family in models/ or shipped with the package)")
    why = None if family is None else check_case_name(family)
    if why:
        raise SpecError(f"{where}: [ladder].family {why}")
    lraw["checkpoints"] = lraw["checkpoints"] or default_checkpoints(family or name)
    return built(where, LearnedLadder, problem, **lraw)


def check_seed(seed, largest, where):
    """[ladder].seed within 0..largest (derived seeds stay 64-bit)."""
    if not 0 <= seed <= largest:
        raise SpecError(f"{where}: [ladder].seed must be in 0..{largest} (got {seed})")


def parse_case(doc, where="<spec>"):
    """Case from a parsed TOML document (a dict); raises SpecError naming the field."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: missing field name (a non-empty string)")
    why = check_case_name(name)
    if why:
        raise SpecError(f"{where}: field name {why}")
    extra = sorted(set(doc) - {"name", "problem", "ladder", "sweep"})
    if extra:
        raise SpecError(f"{where}: unknown top-level entry {extra[0]!r}; expected name, [problem], [ladder], [sweep]")
    praw = table_of(doc, "problem", where)
    fam = praw.get("family")
    if fam not in FAMILIES:
        raise SpecError(f"{where}: unknown [problem].family {fam!r}; use one of {', '.join(FAMILIES)}")
    p = check_fields(praw, PROBLEM_FIELDS["ou" if fam == "ou" else "gmm"], "[problem]", where)
    problem = build_problem(p, where)
    ladder = build_ladder(table_of(doc, "ladder", where), problem, name, where)
    stable = table_of(doc, "sweep", where)
    s = check_fields(stable, SWEEP_FIELDS, "[sweep]", where)
    if "seed" not in stable:        # each case its own paths (docs/spec.md)
        s["seed"] = name_seed(name, "sweep")
    sweep = built(where, Sweep, **s)
    if isinstance(ladder, SyntheticLadder):     # the last replicate's ladder seed must fit too
        check_seed(ladder.seed, MAX_SEED - (sweep.replicates - 1) * REPLICATE_STRIDE, where)
    return Case(name, problem, ladder, sweep, where, doc)


def load_doc(path):
    """The parsed TOML document of a case file (a dict), not yet validated."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a spec file; give the .toml files in it")
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec ({e.strerror or e}); check its permissions") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (byte {e.start}); a spec is a TOML text file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({str(e).splitlines()[0]})") from None


def load_case(path):
    """Parse and validate one TOML case file."""
    return parse_case(load_doc(path), str(path))
