# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Error against compute: EM, ML-EM and the baselines
#
# Reads a results folder written by `mlem-bench run` (the folder in the environment
# variable `MLEM_RESULTS`; without it, a small sweep runs first). Every configuration
# is a faint point; each method's Pareto frontier is a line. Nothing heavy is computed here.

# %%
import matplotlib.pyplot as plt
import numpy as np

from mlem_bench.analysis.rates import frontier
from mlem_bench.report.figures import STYLE
from mlem_bench.report.render import notebook_tables

# without MLEM_RESULTS the tests' small sweep runs first
t = notebook_tables(small_spec="../tests/data/tiny-sweep.toml")
results, points, rates, speed, levels, gammas, floors = (t.results, t.points, t.rates, t.speedups,
                                                         t.levels, t.gammas, t.floors)
rates[rates.method.isin(["em", "mlem"])][["case", "method", "slope", "slope_lo", "slope_hi", "theory_slope"]]

# %%
cases = list(dict.fromkeys(points.case))
fig, axes = plt.subplots(1, len(cases), figsize=(5 * len(cases), 4), squeeze=False)
for ax, case in zip(axes[0], cases):
    for method, g in points[points.case == case].groupby("method", sort=False):
        color, marker = STYLE.get(method, ("k", "x"))
        ax.plot(g.cost, g.error, marker, color=color, alpha=0.25, ms=3)
        f = frontier(g)
        ax.plot(f.cost, f.error, marker + "-", color=color, ms=4, label=method)
    ax.set(xscale="log", yscale="log", xlabel="counted cost per path", ylabel="strong L2 error", title=case)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# Speed-up of ML-EM over each other method at the smallest error both reach, with
# 95% jackknife intervals (NaN: the other method never reaches ML-EM's errors).

# %%
speed[["case", "method", "common_error", "speedup", "speedup_lo", "speedup_hi"]]

# %% [markdown]
# Weak error (sliced W2 to exact samples) against cost; dotted: each case's Monte Carlo
# floor (the distance between two exact samples of the same size).

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for (case, method), g in points[points.method.isin(["em", "mlem"])].groupby(["case", "method"], sort=False):
    f = frontier(g)
    ax.plot(f.cost, f.sw2, "o-" if method == "em" else "s-", ms=3, label=f"{case} {method}")
for sw2 in floors.sw2:
    ax.axhline(sw2, ls=":", color="k", lw=1)
ax.set(xscale="log", yscale="log", xlabel="counted cost per path", ylabel="sliced W2")
ax.legend(fontsize=6)
print("smallest sliced W2 / largest floor:", float(np.nanmin(points.sw2)) / float(floors.sw2.max()))
