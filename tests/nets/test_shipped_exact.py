"""The shipped exact-target, scaled-budget ladder (mlem_bench/suite/gmm-sde-2d-exact.toml):
its trained family ships with the package (mlem_bench/models/gmm-sde-2d-exact, package data),
so these run on a fresh clone. Retraining reproduces it bit for bit; its measured eps_l, costs
and gamma agree with an independent recomputation; ML-EM beats EM on it."""
import numpy as np
import pytest
import scipy.stats

from helpers import SUITE
from mlem_bench.ladders.learned import SHIPPED_FAMILIES, is_shipped
from mlem_bench.sweep.spec import load_doc, parse_case

torch = pytest.importorskip("torch", reason="learned ladders need the 'learned' extra (torch==2.13.0)")

SPEC = SUITE / "gmm-sde-2d-exact.toml"
MODELS = SHIPPED_FAMILIES / "gmm-sde-2d-exact"


def shipped_case(spec=SPEC, **sweep):
    """The case of `spec` on the family shipped with the package (a models/ folder of the
    working directory, which a spec without checkpoints would prefer, is not read)."""
    doc = load_doc(spec)
    doc["ladder"]["checkpoints"] = str(SHIPPED_FAMILIES / doc["name"])
    doc["sweep"].update(sweep)
    return parse_case(doc, str(spec))


@pytest.fixture(scope="module")
def case():
    return shipped_case()


def test_the_shipped_specs_read_the_shipped_families(tmp_path, monkeypatch):
    # in a working directory without models/ the suite's learned cases (and the finest-reference
    # case, which names its family) read the families shipped with the package, so neither
    # `make run` nor these tests train them
    monkeypatch.chdir(tmp_path)
    for name, family in [("gmm-sde-2d-exact", "gmm-sde-2d-exact"), ("gmm-sde-2d-learned", "gmm-sde-2d-learned"),
                         ("gmm-sde-2d-exact-finest", "gmm-sde-2d-exact")]:
        c = parse_case(load_doc(SUITE / f"{name}.toml"), name)
        assert is_shipped(c.ladder.path) and c.ladder.path.name == family, c.ladder.path
        c.ladder.family      # noqa: B018 -- the shipped family matches its spec field by field


def test_retraining_the_cheapest_level_reproduces_the_shipped_weights_bit_for_bit():
    # Level 1 of gmm-sde-2d-learned (width 8, 4000 Adam steps: the cheapest level of either
    # shipped family, about 3 s here) retrained from its spec. train_level pins torch to one
    # thread (the reduction order of a multi-threaded matmul is not fixed) and seeds the
    # initialisation and every batch, so the same torch build on the same machine class gives
    # the same weights bit for bit: checked with torch.equal, no tolerance.
    from mlem_bench.nets.score_mlp import train_level
    learned = shipped_case(SUITE / "gmm-sde-2d-learned.toml").ladder
    shipped = learned.load_checkpoint(1)["state_dict"]
    state, _, _ = train_level(learned, 1)
    assert shipped.keys() == state.keys()
    assert all(torch.equal(shipped[k], state[k]) for k in shipped), "level 1 differs on retraining"


def exact_drift_errors(case, n_paths, n_steps, seed=2024):
    """Independent of the Numba kernels: per path, the mean over the steps of |f^l - f|^2 for
    each level, along exact-drift EM trajectories of the reverse VP SDE (numpy's own
    Brownian increments and initial draws), f^l from the torch networks in float64 and the
    exact score of the mixture's marginal written out here. Returns (n_paths, L) array."""
    from mlem_bench.nets.score_mlp import load_level_model
    p, lad = case.problem, case.ladder
    models = [load_level_model(lad, l).double() for l in range(1, lad.levels + 1)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # small batches: threads only add overhead (10x under load here)
    try:
        return drift_errors(p, lad, models, n_paths, n_steps, seed)
    finally:
        torch.set_num_threads(threads)


def drift_errors(p, lad, models, n_paths, n_steps, seed):
    """exact_drift_errors' loop, on the float64 torch `models` of every level."""
    rng = np.random.default_rng(seed)
    w, mu, var = p.weights, p.means, p.variances
    comp = rng.choice(len(w), size=n_paths, p=w)
    a1 = p.alpha(1.0)
    x = a1 * mu[comp] + np.sqrt(a1 ** 2 * var[comp] + 1 - a1 ** 2)[:, None] * rng.standard_normal((n_paths, p.dim))
    h = p.T / n_steps
    out = np.zeros((n_paths, lad.levels))
    for k in range(n_steps):
        tau = 1.0 - k * h                      # diffusion time of solver time k h
        beta = p.beta_min + (p.beta_max - p.beta_min) * tau
        a = p.alpha(tau)
        m, v = a * mu, a * a * var + 1 - a * a
        logr = np.log(w) - 0.5 * p.dim * np.log(v) - 0.5 * ((x[:, None, :] - m) ** 2).sum(axis=2) / v
        r = np.exp(logr - logr.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        score = np.einsum("pk,pkd->pd", r / v, m - x[:, None, :])
        f = beta * (0.5 * x + score)
        sigma = np.sqrt(1 - a * a)
        with torch.no_grad():
            t = torch.full((n_paths,), tau, dtype=torch.float64)
            for j, model in enumerate(models):
                fl = beta * (0.5 * x - model(torch.from_numpy(x), t).numpy() / sigma)
                out[:, j] += np.sum((fl - f) ** 2, axis=1) / n_steps
        x = x + h * f + np.sqrt(beta * h) * rng.standard_normal(x.shape)
    return out


def test_measured_eps_costs_and_gamma_agree_with_an_independent_recomputation(case):
    # eps_l recomputed on 400 other paths of the spec's 256-step grid without the Numba
    # kernels (exact_drift_errors): each stored eps_l within 4 standard errors of the
    # difference of two independent 400-path estimates (sqrt(2) x the recomputation's SE of
    # eps_l, by the delta method from its per-path mean squares). The multiply-adds counted from
    # the checkpoints' weight shapes (n_in x n_out per linear layer) are the stored costs, and
    # the stored gamma and its 95% interval are the least-squares fit of log c_l on log eps_l
    # (scipy, not analysis.rates.fit_slope); the fit's coverage is checked on planted ladders
    # in tests/analysis/test_analysis.py. The levels span 10x in accuracy: a family that is one
    # network's error several times over would not.
    lad = case.ladder
    fam = lad.family
    eps = np.array([r["eps"] for r in fam["levels"]])
    per_path = exact_drift_errors(case, lad.measure_paths, lad.measure_steps)
    msq = per_path.mean(axis=0)
    rec = np.sqrt(msq)
    se = 0.5 * per_path.std(axis=0, ddof=1) / np.sqrt(per_path.shape[0]) / rec
    assert np.all(np.abs(eps - rec) <= 4 * np.sqrt(2) * se), (eps, rec, se)
    macs = [sum(w.shape[0] * w.shape[1] for k, w in lad.load_checkpoint(l)["state_dict"].items()
                if k.endswith(".weight")) for l in range(1, lad.levels + 1)]
    assert macs == [r["macs"] for r in fam["levels"]] == list(lad.cost[1:].astype(int))
    fit = scipy.stats.linregress(np.log(eps), np.log(macs))
    half = scipy.stats.t.ppf(0.975, len(eps) - 2) * fit.stderr
    np.testing.assert_allclose([fam["gamma"], fam["gamma_lo"], fam["gamma_hi"]],
                               [-fit.slope, -fit.slope - half, -fit.slope + half], rtol=1e-9)
    assert eps[0] / eps[-1] >= 10, eps


# Measured (the shipped family): gamma 2.41 [1.24, 3.58] from eps_l = 0.165, 0.0529, 0.0244,
# 0.0251, 0.0145 (widths 8..256): level 4 (width 128) came out no better than level 3, and five
# points leave a wide interval. Training longer does not fix it (the longer-trained family's
# widths 64-256 meet at one floor: gamma 1.91, docs/learned.md). The claim "interval above 2"
# does not hold for this family; strict xfail on the assertion (no other exception counts), so
# that a family for which it holds shows up as a failure to update.
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="measured gamma 2.41 [1.24, 3.58]: interval not above 2 (docs/learned.md)")
def test_exact_ladder_gamma_interval_lies_above_2(case):
    fam = case.ladder.family
    assert fam["gamma_lo"] > 2, (fam["gamma"], fam["gamma_lo"], fam["gamma_hi"])


def test_exact_ladder_mlem_speedup_interval_lies_above_1(tmp_path):
    # The shipped sweep on fewer paths and its targets down to 0.013 (the smaller ones cost
    # minutes): the speed-up of ML-EM over EM in multiply-adds at the smallest error both
    # frontiers reach, with its 95% jackknife interval over the path batches
    # (analysis.rates.speedup_interval, whose coverage tests/analysis/test_analysis.py checks).
    # Its lower bound, not the point estimate, must exceed 1. Measured with the full sweep (400
    # paths, targets down to 0.0108 reached): 1.42x [1.23, 1.63]; here see the assertion message.
    from mlem_bench.analysis.rates import pooled, speedups
    from mlem_bench.sweep.driver import run_sweep
    c = shipped_case(n_paths=200, eps=[e for e in load_doc(SPEC)["sweep"]["eps"] if e >= 0.013])
    results = run_sweep([c], tmp_path / "out", progress=False)["results"]
    s = speedups(pooled(results)).set_index("method").loc["em"]
    assert np.isfinite(s.common_error) and s.speedup_lo > 1, s
