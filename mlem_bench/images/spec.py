"""The image track's spec: [data], [ladder], [sampler], [metrics] tables of a TOML file,
validated with the same field checker as the benchmark cases."""
from pathlib import Path

from ..errors import SpecError
from ..nets.unet import BUDGET_CAP, BUDGET_EXPONENT, BUDGETS
from ..sweep.spec import check_fields, load_doc

MIN_STEPS = 32       # EM is stable for h beta_max / 2 < 2 (beta_max = 20), as for the mixture problems
_DATA = {"stand_in": (bool, False, False), "folder": (str, False, None), "n_images": (int, False, 512),
         "resolution": (int, False, 64)}
_LADDER = {"widths": (list, True, None), "mults": (list, False, [1, 2]), "train_steps": (int, False, 1000),
           "batch_size": (int, False, 64), "lr": (float, False, 2e-3), "seed": (int, False, 0),
           "budget": (str, False, "fixed"), "budget_exponent": ((int, float), False, BUDGET_EXPONENT),
           "budget_cap": ((int, float), False, BUDGET_CAP)}
_SAMPLER = {"n_samples": (int, False, 64), "batches": (int, False, 8), "steps": (list, False, [16, 32, 64]),
            "ref_steps": (int, False, 256), "var_budgets": (list, False, [0.25, 1.0, 4.0]),
            "stitch_fractions": (list, False, [0.5]), "gamma_samples": (int, False, 16),
            "gamma_steps": (int, False, 32), "seed": (int, False, 0)}
_METRICS = {"inception_weights": (str, False, None)}
_TABLES = {"name", "data", "ladder", "sampler", "metrics"}


def load_spec(path):
    """The UNet spec (dict of validated tables) of a TOML file; SpecError names the field."""
    doc = load_doc(path)
    where = str(path)
    unknown = sorted(set(doc) - _TABLES)
    if unknown:
        raise SpecError(f"{where}: unknown table or field {unknown[0]!r}; known: {', '.join(sorted(_TABLES))}")
    for t in ("data", "ladder", "sampler"):
        if not isinstance(doc.get(t), dict):
            raise SpecError(f"{where}: missing table [{t}]")
    if not isinstance(doc.get("metrics", {}), dict):
        raise SpecError(f"{where}: metrics must be a table [metrics]")
    spec = {"name": doc.get("name", Path(path).stem),
            "data": check_fields(doc["data"], _DATA, "[data]", where),
            "ladder": check_fields(doc["ladder"], _LADDER, "[ladder]", where),
            "sampler": check_fields(doc["sampler"], _SAMPLER, "[sampler]", where),
            "metrics": check_fields(doc.get("metrics", {}), _METRICS, "[metrics]", where)}
    d, lad, s = spec["data"], spec["ladder"], spec["sampler"]
    if d["stand_in"] == (d["folder"] is not None):
        raise SpecError(f"{where}: give [data].folder (your images) or [data].stand_in = true, exactly one")
    w = lad["widths"]
    if len(w) < 2 or not all(isinstance(v, int) and v >= 2 and v % 2 == 0 for v in w) or w != sorted(set(w)):
        raise SpecError(f"{where}: [ladder].widths must be >= 2 increasing even base channel counts (got {w!r})")
    if lad["budget"] not in BUDGETS:
        raise SpecError(f"{where}: [ladder].budget must be one of {', '.join(map(repr, BUDGETS))} "
                        f"(got {lad['budget']!r}): fixed = train_steps for every level, scaled = more for larger ones")
    if not 0 < lad["budget_exponent"] <= 1:
        raise SpecError(f"{where}: [ladder].budget_exponent must lie in (0, 1] (got {lad['budget_exponent']!r})")
    if not lad["budget_cap"] >= 1:
        raise SpecError(f"{where}: [ladder].budget_cap must be >= 1, a multiple of train_steps (got {lad['budget_cap']!r})")
    if lad["train_steps"] < 1 or lad["batch_size"] < 1:
        raise SpecError(f"{where}: [ladder].train_steps and [ladder].batch_size must be >= 1")
    down = 2 ** (len(lad["mults"]) - 1)
    if d["resolution"] < 4 or d["resolution"] % down:
        raise SpecError(f"{where}: [data].resolution must be a multiple of {down} (2^(len(mults)-1)), got {d['resolution']}")
    ref = s["ref_steps"]
    if ref & (ref - 1) or any(not isinstance(n, int) or n < 1 or ref % n for n in s["steps"]):
        raise SpecError(f"{where}: [sampler].steps must divide [sampler].ref_steps, a power of two (got {s['steps']}, {ref})")
    if min(s["steps"]) < MIN_STEPS:
        raise SpecError(f"{where}: [sampler].steps must be >= {MIN_STEPS}: EM on the VP schedule is unstable "
                        f"below h beta_max / 2 < 2 (got {s['steps']})")
    if not 2 <= s["batches"] <= s["n_samples"] // 2:
        raise SpecError(f"{where}: [sampler].batches must be in 2..n_samples/2 (got {s['batches']})")
    if any(not (0 < f < 1) for f in s["stitch_fractions"]) or any(not v > 0 for v in s["var_budgets"]):
        raise SpecError(f"{where}: [sampler].stitch_fractions must lie in (0, 1) and var_budgets be > 0")
    if spec["metrics"]["inception_weights"] is not None:
        from .fid import weights_path
        weights_path(spec["metrics"]["inception_weights"])     # fail before hours of training, not after
    return spec


def require_output(path, stage):
    """A file an earlier stage writes; a clear error naming that stage when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path.parent}: no {path.name}; run `mlem-bench unet {stage} SPEC --out {path.parent}` first")
    return path
