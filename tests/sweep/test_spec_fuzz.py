"""Fuzz test of spec parsing: hypothesis writes well-formed TOML documents with random
fields, types, values and nesting (around the real schema, so many of them get deep into
validation); loading each either succeeds or raises the project's one-line SpecError,
never another exception."""
import json
import math
import tomllib

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from mlem_bench.errors import SpecError  # noqa: E402
from mlem_bench.sweep.spec import LADDER_FIELDS, PROBLEM_FIELDS, SWEEP_FIELDS, parse_case  # noqa: E402

KEYS = sorted({*PROBLEM_FIELDS["ou"], *PROBLEM_FIELDS["gmm"], *LADDER_FIELDS, *SWEEP_FIELDS, "name", "family",
               "kind", "widths", "bogus"})
INTS = st.one_of(st.integers(-3, 12), st.sampled_from([0, 1, 2, 100, 10**6, 2**63 - 1, -2**63]))
FLOATS = st.one_of(st.floats(-5, 5, allow_nan=False), st.sampled_from([0.0, 1e-300, 1e300, 0.5, 2.5, -0.0]))
STRINGS = st.one_of(st.sampled_from(["ou", "gmm-sde", "gmm-ode", "em", "mlem", "synthetic", "learned", "a/b", ""]),
                    st.text(max_size=8))
SCALARS = st.one_of(INTS, FLOATS, STRINGS, st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def toml_value(v):
    """TOML text of a scalar or (nested, possibly mixed) array."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        # a JSON string is a TOML basic string, once DEL (raw in JSON, not in TOML) is escaped
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    return "[" + ", ".join(toml_value(e) for e in v) + "]"


def toml_document(doc):
    """TOML text of {key: value or {key: value}} (top-level scalars first, then tables)."""
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(k)}]")
            lines += [f"{json.dumps(kk)} = {toml_value(vv)}" for kk, vv in table.items()]
    return "\n".join(lines) + "\n"


BASE = {"name": "f", "problem": {"family": "ou", "dim": 1}, "ladder": {"gamma": 2.5}, "sweep": {"eps": [0.1],
                                                                                                  "n_paths": 10}}
TABLE = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


@st.composite
def documents(draw):
    """A spec near the real one: the base document with tables and fields replaced, added
    or dropped at random."""
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for section in ("problem", "ladder", "sweep"):
        action = draw(st.sampled_from(["keep", "update", "replace", "drop", "scalar"]))
        if action == "update":
            doc[section].update(draw(TABLE))
        elif action == "replace":
            doc[section] = draw(TABLE)
        elif action == "drop":
            del doc[section]
        elif action == "scalar":
            doc[section] = draw(SCALARS)
    if draw(st.booleans()):
        doc["name"] = draw(st.one_of(STRINGS, INTS))
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.sampled_from(KEYS))] = draw(VALUES)
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_spec_parses_or_one_line_spec_error(doc):
    text = toml_document(doc)
    parsed = tomllib.loads(text)      # the serializer writes well-formed TOML
    try:
        parse_case(parsed, "fuzz.toml")
    except SpecError as e:
        msg = str(e)
        assert msg.startswith("fuzz.toml") and "\n" not in msg, msg
