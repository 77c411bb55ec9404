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
# # Ladder diagnostics and measured gamma
#
# Per level, from pilot trajectories with the exact drift: eps_l = RMS |f^l - f|,
# delta_l = RMS |f^l - f^(l-1)|, mean, variance and kurtosis of a projection of
# f^l - f^(l-1), the cost c_l, and ML-EM's chosen p_l with the expected evaluations per
# path. gamma is measured by a log-log fit of c_l on eps_l. Reads `MLEM_RESULTS` (or runs
# a small sweep).

# %%
import matplotlib.pyplot as plt

from mlem_bench.report.render import notebook_tables

# without MLEM_RESULTS the tests' small sweep runs first
t = notebook_tables(small_spec="../tests/data/tiny-sweep.toml")
results, points, rates, speed, levels, gammas, floors = (t.results, t.points, t.rates, t.speedups,
                                                         t.levels, t.gammas, t.floors)
gammas

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for case, g in levels.groupby("case", sort=False):
    axes[0].loglog(g.eps_measured, g.cost, "o-", ms=3, label=case)
    axes[1].semilogy(g.level, g.delta, "o-", ms=3)
    axes[2].plot(g.level, g["kurtosis"], "o-", ms=3)
axes[0].set(xlabel="measured eps_l", ylabel="cost c_l")
axes[1].set(xlabel="level", ylabel="delta_l")
axes[2].set(xlabel="level", ylabel="kurtosis of f^l - f^(l-1)")
axes[0].legend(fontsize=6)
fig.tight_layout()

# %%
levels[["case", "level", "eps_nominal", "eps_measured", "delta", "kurtosis", "cost", "p", "evals_per_path"]]
