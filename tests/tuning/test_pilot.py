"""The tuner's pilot: the adaptive pilot against the full one and against known answers.

The adaptive pilot (tuning.calibrate, [sweep].pilot = "adaptive") climbs the levels up to the
first whose bias meets the smallest budget any configuration uses, measures delta_l on a
fraction q_l ~ sqrt(c_1 / c_l) of the path-steps (at least 64) and b_l on a grid of at least
32 paths; the full pilot measures every level on all 400 x n1 path-steps. Pilots of
synthetic ladders cost counted units, not real work, so these run in seconds.
"""
import numpy as np
import pytest

from helpers import SUITE
from mlem_bench.numerics.kernels import DIAG_SQ
from mlem_bench.numerics.rng import PILOT_SEED_OFFSET
from mlem_bench.numerics.solve import evaluate_level, solve
from mlem_bench.ladders.synthetic import SyntheticLadder
from mlem_bench.problems import OrnsteinUhlenbeck
from mlem_bench.sweep.spec import load_case
from mlem_bench.sweep.tasks import configure_methods, replicate_case
from mlem_bench.tuning.calibrate import MIN_PATH_STEPS, calibrate, sample_fractions, theory_model
from mlem_bench.tuning.configure import bias_budget, tune_mlem

# the default suite's synthetic cases (the ones `make run` tunes), replicate 0 each
SYNTHETIC = [p.stem for p in sorted(SUITE.glob("*.toml")) if load_case(p).ladder.__class__ is SyntheticLadder]


def both_pilots(name, replicate=0):
    c = replicate_case(load_case(SUITE / f"{name}.toml"), replicate)
    sw = c.sweep
    full = calibrate(c.problem, c.ladder, sw.seed, sw.pilot_paths, sw.reference, pilot="full")
    adaptive = calibrate(c.problem, c.ladder, sw.seed, sw.pilot_paths, sw.reference, pilot="adaptive",
                         stop_bias=sw.stop_bias)
    return c, full, adaptive


def test_the_default_suite_has_synthetic_cases():
    assert len(SYNTHETIC) == 5, SYNTHETIC


@pytest.mark.parametrize("name", SYNTHETIC)
def test_adaptive_pilot_agrees_with_the_full_pilot(name):
    # Within 30% (the bound: +-30% in b_l only moves the top level by a fraction of a
    # level, and the tuner's cost is flat to 30% errors in delta_l) on every level a
    # configuration of the case uses, and in c_v. Measured (replicate 0 and 1 of each case):
    # b_l 0.86-1.26, delta_l 0.81-1.17, c_v 0.99-1.02 (docs/method.md, "The pilot").
    c, full, adaptive = both_pilots(name)
    configs, _ = configure_methods(c.sweep, adaptive, c.ladder)
    k = max(x.level for x in configs if x.method in ("em", "mlem"))
    assert k <= adaptive.pilot["measured_levels"]
    b = adaptive.bias[1:k + 1] / full.bias[1:k + 1]
    d = adaptive.delta[2:k + 1] / full.delta[2:k + 1]
    assert np.all(np.abs(b - 1) <= 0.3), b
    assert np.all(np.abs(d - 1) <= 0.3), d
    assert abs(adaptive.c_v / full.c_v - 1) <= 0.3 and abs(adaptive.c_h / full.c_h - 1) <= 1e-12
    # exactly the levels up to the top measured one carry estimates
    top = adaptive.pilot["measured_levels"]
    assert np.all(np.isfinite(adaptive.bias[:top + 1])) and np.all(np.isnan(adaptive.bias[top + 1:]))
    assert np.all(np.isfinite(adaptive.delta[:top + 1])) and np.all(np.isnan(adaptive.delta[top + 1:]))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_adaptive_pilot_costs_at_most_5_percent_of_mlem_at_the_smallest_target(name):
    # ML-EM's counted cost at the smallest target: every configuration the sweep runs there,
    # on the case's paths, in expectation (the tuner's predicted cost is the kernel's expected
    # count: tests/numerics/test_estimator.py). The full pilot cost 30x to 60,000x it.
    c, full, adaptive = both_pilots(name)
    configs, _ = configure_methods(c.sweep, adaptive, c.ladder)
    ml = [x for x in configs if x.method == "mlem"]
    smallest = min(x.eps_target for x in ml)
    run = c.sweep.n_paths * sum(x.pred_cost for x in ml if x.eps_target == smallest)
    assert adaptive.pilot["cost"] <= 0.05 * run, (adaptive.pilot["cost"], run)
    assert full.pilot["cost"] > run       # what the adaptive pilot replaces


def test_full_pilot_counts_every_evaluation_once():
    # the diagnostic run evaluates every level at every step of every path: n1 N sum c_l,
    # counted by the kernel; plus one EM run per level and the c_v pair
    p, lad = OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.0, levels=5, eps1=1.0, seed=3)
    m = calibrate(p, lad, 0, 50)
    n1, N = m.pilot["n_steps"], 50
    ml = solve(p, lad, "mlem", 4, n1, N, m.pilot["seed"], probs=np.full(6, 0.5)).cost.sum()
    expected = n1 * N * (lad.cost[1:].sum() + lad.cost[1:].sum() + lad.cost[4]) + ml
    assert m.pilot["cost"] == pytest.approx(expected, rel=1e-12)


def test_sampled_diagnostics_are_unbiased_and_count_what_they_evaluate():
    # Level l recorded on a fraction q_l of the path-steps with weight 1/q_l: the moment sums
    # agree with the full run's within their standard error (z < 4 per level), fraction 1 is
    # bit-identical to the default, fraction 0 records nothing, and the counted cost is the
    # sampled evaluations' (f^l where l or l + 1 is sampled).
    p, lad = OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.0, levels=4, eps1=1.0, seed=5)
    n, N, s = 64, 400, 11
    full = solve(p, lad, "diag", 0, n, N, s)
    np.testing.assert_array_equal(full.diag, solve(p, lad, "diag", 0, n, N, s, probs=np.ones(5)).diag)
    q = np.array([1.0, 1.0, 0.5, 0.2, 0.0])
    part = solve(p, lad, "diag", 0, n, N, s, probs=q)
    a, b = full.diag[:, :, DIAG_SQ], part.diag[:, :, DIAG_SQ]
    for l in (2, 3):
        z = (b[:, l].mean() - a[:, l].mean()) / (np.std(b[:, l] - a[:, l], ddof=1) / np.sqrt(N))
        assert abs(z) < 4, (l, z)
    assert np.all(b[:, 4] == 0) and np.all(part.evals[:, 4] == 0)
    np.testing.assert_array_equal(b[:, 1], a[:, 1])
    counted = (part.evals[:, 1:] * lad.cost[1:]).sum(axis=1)
    np.testing.assert_allclose(part.cost, counted, rtol=1e-12)
    # level 3 is evaluated where 3 or 4 is sampled: about q_3 n of the steps (SE-sized band)
    assert abs(part.evals[:, 3].mean() / n - 0.2) < 4 * np.sqrt(0.2 * 0.8 / (n * N))


def test_sample_fractions_follow_the_stated_rule():
    cost = np.array([0.0, 1.0, 4.0, 16.0, 1e12])
    q = sample_fractions(cost, 25600)
    np.testing.assert_allclose(q[1:4], [1.0, 0.5, 0.25])
    assert q[4] == MIN_PATH_STEPS / 25600


def linear_response_bias(problem, ladder, levels, n_paths=2000, n_steps=256, seed=7):
    """b_l to first order for a nested ladder on OU (drift -theta x): per path, the response
    delta' = -theta delta + eps_l u(t, X_t) along exact-drift paths (fine EM, numpy's own
    Brownian increments), u = (f^l - f) / eps_l the ladder's one field; RMS over paths."""
    rng = np.random.default_rng(seed)
    h = problem.T / n_steps
    x = problem.initial_states(seed, n_paths)
    resp = np.zeros_like(x)
    theta = float(problem.theta[0, 0]) if np.ndim(problem.theta) else float(problem.theta)
    for i in range(n_steps):
        t = i * h
        f = evaluate_level(problem, None, 0, t, x)
        u = (evaluate_level(problem, ladder, 1, t, x) - f) / ladder.eps[1]
        resp = resp + h * (-theta * resp + u)
        x = x + h * f + problem.sigma * np.sqrt(h) * rng.standard_normal(x.shape)
    return ladder.eps[levels] * np.sqrt(np.mean(np.sum(resp ** 2, axis=1)))


def test_pilot_bias_matches_the_linear_response_on_the_nested_ladder():
    # Known answer: on the nested ladder f^l = f + eps_l u, so b_l = eps_l B + O(eps_l^2) with B
    # the RMS of the linear response to u (one fine solve, 2000 other paths). From level 4 on
    # (eps_l <= 1/8) the O(eps^2) term is small. The full pilot (400 paths, 64 steps: RMS
    # standard error 2.5%) lies within 10%; the adaptive one, whose top levels use 32 paths (9%)
    # on a 4-step grid, within 30%.
    c = replicate_case(load_case(SUITE / "ou-2d-g2.5-nested.toml"), 0)
    sw = c.sweep
    full = calibrate(c.problem, c.ladder, sw.seed, sw.pilot_paths, pilot="full")
    adaptive = calibrate(c.problem, c.ladder, sw.seed, sw.pilot_paths, pilot="adaptive", stop_bias=sw.stop_bias)
    levels = np.arange(4, adaptive.pilot["measured_levels"] + 1)
    known = linear_response_bias(c.problem, c.ladder, levels)
    assert np.all(np.abs(full.bias[levels] / known - 1) <= 0.1), full.bias[levels] / known
    assert np.all(np.abs(adaptive.bias[levels] / known - 1) <= 0.3), adaptive.bias[levels] / known


def test_theory_model_is_the_ladder_facts():
    lad = SyntheticLadder(gamma=3.0, levels=6, eps1=0.5)
    m = theory_model(lad, 2.0, 8)
    np.testing.assert_allclose(m.bias, 2.0 * lad.eps)
    np.testing.assert_allclose(m.delta[2:], np.hypot(lad.eps[2:], lad.eps[1:-1]))
    assert (m.c_h, m.c_v, m.T, m.min_steps) == (1.0, 1.0, 2.0, 8)
    # the top level: the first with T eps_k within the bias budget (eps 0.1, split 1/2: level 5)
    cfg = tune_mlem(m, lad, 0.1)
    assert cfg.level == 5 == int(np.flatnonzero(2.0 * lad.eps[1:] <= bias_budget(0.1, 0.5))[0] + 1)


def test_adaptive_pilot_against_the_finest_level():
    # reference = "finest": b_l is measured against the top level's own SDE on the same grid,
    # so every level below the top is measured (no climb stop) and b_L = 0. Level 1 (q_1 = 1)
    # is measured exactly as by the full pilot; levels 2-4 (q = 1/2, 1/4, 1/8) within 30%.
    p, lad = OrnsteinUhlenbeck(2), SyntheticLadder(gamma=2.0, levels=4, eps1=1.0, seed=2)
    full = calibrate(p, lad, 0, 200, reference="finest", pilot="full")
    adaptive = calibrate(p, lad, 0, 200, reference="finest", pilot="adaptive", stop_bias=1.0)
    assert adaptive.pilot["measured_levels"] == 4 and adaptive.bias[4] == 0.0
    assert adaptive.bias[1] == full.bias[1] and adaptive.delta[1] == full.delta[1]
    assert np.all(np.abs(adaptive.bias[2:4] / full.bias[2:4] - 1) <= 0.3), adaptive.bias / full.bias
    assert np.all(np.abs(adaptive.delta[2:] / full.delta[2:] - 1) <= 0.3), adaptive.delta / full.delta
    assert abs(adaptive.c_h / full.c_h - 1) <= 0.3


def test_mlem_theory_runs_in_a_sweep_from_the_theory_model(tmp_path):
    # The no-pilot row end to end: its planned configurations are exactly tune_mlem on
    # theory_model (same knobs as ML-EM), it is charged no pilot of its own, and the
    # report's speed-up table reads ML-EM against it (what the pilot buys).
    from mlem_bench.analysis.rates import pooled, speedups
    from mlem_bench.sweep.driver import run_sweep
    from mlem_bench.sweep.spec import parse_case
    doc = {"name": "theory-row", "problem": {"family": "ou", "dim": 2},
           "ladder": {"gamma": 2.5, "levels": 8, "eps1": 1.0},
           "sweep": {"methods": ["em", "mlem", "mlem-theory"], "eps": [0.05, 0.025], "n_paths": 64,
                     "pilot_paths": 64, "em_splits": [0.5], "var_shares": [0.5]}}
    case = parse_case(doc, "theory-row")
    res = run_sweep([case], tmp_path / "out", progress=False)["results"]
    theory = res[res.method == "mlem-theory"].sort_values("eps_target", ascending=False)
    model = theory_model(case.ladder, case.problem.T, case.problem.min_steps)
    assert len(theory) == 2
    for r in theory.itertuples():
        c = tune_mlem(model, case.ladder, r.eps_target, split=0.5, var_share=0.5, max_refine=case.sweep.max_refine)
        assert (r.level, r.n_steps, r.pred_cost) == (c.level, c.n_steps, c.predicted_cost)
    sp = speedups(pooled(res))
    assert set(sp.method) == {"em", "mlem-theory"}


def em_strong_error_ou(theta, sigma, x0, T, n, dim):
    """Closed form of EM's terminal error on OU dX = -theta X dt + sigma dW (theta, sigma
    scalars, x0 deterministic) against the exact solution on the same Brownian path: per
    coordinate the error is Gaussian, mean ((1 - theta h)^n - e^(-theta T)) x0 and variance
    sigma^2 sum_k int_(t_k)^(t_k+1) ((1 - theta h)^(n-1-k) - e^(-theta (T - s)))^2 ds.
    Returns (mean (dim,), variance per coordinate)."""
    h, a = T / n, 1 - theta * T / n
    k = np.arange(n)
    A = a ** (n - 1 - k)
    # int e^(-theta (T - s)) ds and int e^(-2 theta (T - s)) ds over [t_k, t_k + h]
    e1 = (np.exp(-theta * (T - (k + 1) * h)) - np.exp(-theta * (T - k * h))) / theta
    e2 = (np.exp(-2 * theta * (T - (k + 1) * h)) - np.exp(-2 * theta * (T - k * h))) / (2 * theta)
    var = sigma ** 2 * np.sum(A ** 2 * h - 2 * A * e1 + e2)
    return np.broadcast_to((a ** n - np.exp(-theta * T)) * np.asarray(x0, float), (dim,)), float(var)


def test_calibrated_constants_match_their_closed_forms_on_a_constant_field_ladder():
    # Known answers for every constant the pilot measures. The ladder: nested, lengthscale 1e6,
    # so its one field u(t, x) = sum_m a_m cos(w_m . x + v_m t + phi_m) is the constant vector
    # u0 = sum_m a_m cos(phi_m) to ~1e-5 (|w|, |v| ~ 1e-6, |x| and t of order 1), and
    # f^l - f^(l-1) = -eps_l u0. On OU (drift -theta x, theta = 1, T = 1, n1 = 64 steps):
    # * delta_l = eps_l |u0| exactly (l >= 2; delta_1 = |f^1 - f| = eps_1 |u0|);
    # * b_l: EM with f^l against EM with f on the same grid differ by the deterministic
    #   e_(n+1) = a e_n + h eps_l u0, a = 1 - theta h, so b_l = eps_l |u0| (1 - a^n1) / theta;
    # * c_v: ML-EM (p_l = 1/2) against EM on level 4 differ by e_(n+1) = a e_n + h xi_n with
    #   xi_n = sum_l (B_l / p_l - 1)(-eps_l u0) independent over steps, so
    #   E|e|^2 = h^2 sum_j a^(2j) sum_l delta_l^2 (1/p_l - 1) and the model's c_v is
    #   (h / T)(1 - a^(2 n1)) / (1 - a^2) = 0.43, not 1: the contraction the model leaves out.
    #   Its estimate is an RMS over 400 paths: within 4 standard errors, the SE from the
    #   per-path squared errors of the same two runs (recomputed here on the pilot's seed);
    # * c_h: EM with the exact drift against the exact solution (the Haar reference, whose own
    #   truncation error `own_error` is orthogonal to it) has the closed form of
    #   em_strong_error_ou; the estimate within 4 of its standard errors (Gaussian per
    #   coordinate: Var|e|^2 = sum_i 2 s^4 + 4 mu_i^2 s^2, relative SE of the RMS
    #   sd(|e|^2) / (2 sqrt(N) E|e|^2)).
    p = OrnsteinUhlenbeck(2, theta=1.0, sigma=0.7, x0=1.0)
    lad = SyntheticLadder(gamma=2.0, levels=4, eps1=0.5, seed=4, lengthscale=1e6, structure="nested")
    N = 400
    m = calibrate(p, lad, 0, N, pilot="full")
    n1, T = m.pilot["n_steps"], p.T
    h, a = T / n1, 1 - T / n1
    arr = lad.arrays(p.dim)
    u0 = np.linalg.norm(np.sum(arr.amp[1] * np.cos(arr.phase[1])[:, None], axis=0))
    np.testing.assert_allclose(m.delta[1:], lad.eps[1:] * u0, rtol=1e-4)
    np.testing.assert_allclose(m.bias[1:], lad.eps[1:] * u0 * (1 - a ** n1), rtol=1e-4)
    # c_v against its closed form, SE from the per-path squared errors of the pilot's own runs
    s = m.pilot["seed"]
    em = solve(p, lad, "em", 4, n1, N, s)
    ml = solve(p, lad, "mlem", 4, n1, N, s, probs=np.full(lad.levels + 1, 0.5))
    sq = np.sum((ml.x - em.x) ** 2, axis=1)
    pred = T * h * np.sum(m.delta[2:5] ** 2)
    assert m.c_v == pytest.approx(sq.mean() / pred, rel=1e-12)          # the same runs as the pilot's
    known_cv = (h / T) * (1 - a ** (2 * n1)) / (1 - a ** 2)
    se_cv = np.std(sq, ddof=1) / np.sqrt(N) / pred
    assert abs(m.c_v - known_cv) <= 4 * se_cv, (m.c_v, known_cv, se_cv)
    # c_h against EM's closed-form strong error on OU
    mu, var = em_strong_error_ou(1.0, 0.7, 1.0, T, n1, p.dim)
    ref_own = p.reference(s, N, 16 * n1).own_error
    var -= ref_own ** 2 / p.dim
    msq = np.sum(mu ** 2) + p.dim * var
    known_ch = np.sqrt(msq) / h
    rel_se = np.sqrt(np.sum(2 * var ** 2 + 4 * mu ** 2 * var) / N) / (2 * msq)
    assert abs(m.c_h / known_ch - 1) <= 4 * rel_se, (m.c_h, known_ch, rel_se)
