"""Evaluate one level of a synthetic ladder through the cached kernel and print the value and
the kernel's cache statistics as JSON (tests/numerics/test_jit_cache.py runs it in fresh processes)."""
import json, sys
import numpy as np
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.numerics import kernels
from mlem_bench.numerics.solve import evaluate_level
from mlem_bench.problems import OrnsteinUhlenbeck
v = evaluate_level(OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.5, levels=3, eps1=1.0, seed=1), 2, 0.3, np.ones((4, 2)))
st = kernels.evaluate_level.cached.stats
print(json.dumps({"value": v.tolist(), "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()), "file": kernels.__file__}))
