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
# # The regimes: fitted cost exponent against gamma
#
# Theory (DESIGN §1): EM's cost grows like eps^-(gamma + 1); ML-EM's like
# eps^-max(gamma, 1 + gamma/2), with a log^2 factor at gamma = 2. Reads the folder in
# `MLEM_RESULTS` (the default suite covers gamma in {1.5, 2, 2.5, 3, 4} on OU and the
# mixture SDE); without it, a small sweep runs first.

# %%
import matplotlib.pyplot as plt
import numpy as np

from mlem_bench.report.render import notebook_tables

# without MLEM_RESULTS the tests' small sweep runs first
t = notebook_tables(small_spec="../tests/data/tiny-sweep.toml")
results, points, rates, speed, levels, gammas, floors = (t.results, t.points, t.rates, t.speedups,
                                                         t.levels, t.gammas, t.floors)
r = rates[rates.method.isin(["em", "mlem"])].copy()
r["exponent"] = -r.slope
r["theory"] = -r.theory_slope
r["covered"] = (r.slope_lo <= r.theory_slope) & (r.theory_slope <= r.slope_hi)
r[["case", "gamma", "method", "exponent", "theory", "slope_lo", "slope_hi", "covered"]]

# %%
g = np.linspace(1, 4.5, 100)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(g, g + 1, "C0", lw=1, label="EM theory")
ax.plot(g, np.maximum(g, 1 + g / 2), "C3", lw=1, label="ML-EM theory")
for (method, family), x in r.groupby(["method", "family"]):
    ax.errorbar(x.gamma, x.exponent, yerr=[x.slope_hi - x.slope, x.slope - x.slope_lo],
                fmt="o" if family == "ou" else "s", color="C0" if method == "em" else "C3", capsize=2,
                label=f"{method}, {family}")
ax.set(xlabel="gamma", ylabel="fitted exponent")
ax.legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# The speed-up of ML-EM over EM at the smallest common error, per case (theory: it
# grows like eps^-1 for gamma >= 2 and like eps^-gamma/2 below).

# %%
speed[speed.method == "em"][["case", "gamma", "common_error", "speedup", "speedup_lo", "speedup_hi"]]
