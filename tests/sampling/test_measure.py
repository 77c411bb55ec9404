"""measure_ladder and `mlem-bench measure`: the table round trip through `read_levels`, known
answers on a planted ladder, predicted against measured speed-up on a trained ladder, the CLI."""
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="measure_ladder needs the 'learned' extra (torch==2.13.0)")

from helpers import ROOT, run_cli  # noqa: E402
from mlem_bench.analysis.predict import read_levels, write_levels  # noqa: E402
from mlem_bench.numerics import vp  # noqa: E402

EXAMPLES = ROOT / "examples"
SPEC = EXAMPLES / "measure-score-mlps.toml"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: tiny networks on a shared 2-core machine run far faster than with a team."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def score_mlps():
    """The example loader's ladder (examples/model_family.py), trained once per process
    (the CLI test's spec asks for the same family and gets the same models)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from model_family import score_mlps as load
    finally:
        sys.path.remove(str(EXAMPLES))
    return load(widths=(2, 8, 32), train_steps=300)


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_table_round_trips_through_read_levels(tmp_path, suffix):
    levels = [{"cost": 1 / 3, "error": 0.1 + 0.2, "delta": 0.0},
              {"cost": 7.000000000000001, "error": 1e-17, "delta": 123456789.123},
              {"cost": 2.5e20, "error": 0.0, "delta": np.nextafter(1.0, 2.0)}]
    scalars = {"T": 0.999, "c_h": 3.228488695840195, "c_v": 0.08875223109690748, "min_steps": 8}
    path = tmp_path / f"ladder{suffix}"
    write_levels(path, levels, scalars, comments=["a comment line"])
    got_levels, got_scalars = read_levels(path)
    assert got_levels == levels                     # exact: floats are written by repr
    # a CSV carries the levels only; its scalars are `predict` options (predict_options)
    assert got_scalars == (scalars if suffix == ".toml" else {})


def planted_eps(a, dim):
    """Planted noise predictions eps^l(x, t) = sigma(t) x + a_l e_l (e_l the l-th unit vector):
    sigma(t) x is the exact noise of N(0, I) data, so every difference between levels is the
    known constant a_l e_l - a_m e_m."""
    def level(al, l):
        e = torch.zeros(dim, dtype=torch.float64)
        e[l] = 1.0

        def f(x, t):
            sigma = torch.sqrt(1 - torch.exp(2 * vp.log_alpha.py_func(t, vp.BETA_MIN, vp.BETA_MAX)))
            return sigma[:, None] * x + al * e
        return f
    return [level(al, l) for l, al in enumerate(a)]


def test_planted_ladder_recovers_eps_delta_bias_c_v_and_gamma():
    from mlem_bench.sampling.measure import measure_ladder
    a = np.array([0.4, 0.2, 0.1, 0.05])
    L, gamma, n_steps, n_paths = a.size, 2.5, 32, 256
    # reverse SDE of N(0, I) data, written out independently: drift of level l in solver time s
    # (diffusion time t = 1 - s) is -beta x / 2 - (beta / sigma) a_l e_l
    T = 1 - vp.T_MIN
    h = T / n_steps
    t = 1 - h * np.arange(n_steps)
    beta = vp.BETA_MIN + (vp.BETA_MAX - vp.BETA_MIN) * t
    sigma = np.sqrt(1 - np.exp(-(vp.BETA_MIN * t + 0.5 * (vp.BETA_MAX - vp.BETA_MIN) * t * t)))
    w = beta / sigma                                    # how a noise offset enters the drift
    # a constant offset d of the drift: the EM state difference it leaves at T is
    # -sum_n h w_n d prod_{m > n} (1 - h beta_m / 2) (the base drift is linear and shared)
    prop = np.array([np.prod(1 - h * beta[n + 1:] / 2) for n in range(n_steps)])
    gain = np.sum(h * w * prop)
    pair = lambda i, j: np.hypot(a[i], a[j])           # |a_i e_i - a_j e_j|  # noqa: E731
    eps = np.array([pair(l, L - 1) for l in range(L)]) * np.sqrt(np.mean(w ** 2))
    eps[-1] = 0.0
    delta = np.array([0.0] + [pair(l, l - 1) for l in range(1, L)]) * np.sqrt(np.mean(w ** 2))
    bias = np.array([pair(l, L - 1) for l in range(L)]) * gain
    bias[-1] = 0.0
    cost = eps[:-1] ** -gamma
    cost = np.append(cost, 2 * cost[-1])                # planted cost ~ eps^-gamma below the top
    m = measure_ladder(planted_eps(a, L), shape=(L,), n_paths=n_paths, n_steps=n_steps, seed=3,
                       dtype=torch.float64, costs=cost, repeats=1, progress=False)
    facts = {k: np.array([f[k] for f in m.facts]) for k in ("eps", "delta", "bias")}
    # every difference is a deterministic constant: float64 arithmetic recovers them to round-off
    np.testing.assert_allclose(facts["eps"], eps, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(facts["delta"], delta, rtol=1e-9)
    np.testing.assert_allclose(facts["bias"], bias, rtol=1e-9, atol=1e-12)
    assert [r["error"] for r in m.levels] == list(facts["bias"])
    assert [r["cost"] for r in m.levels] == list(cost)
    # cost planted exactly as eps^-gamma: the fit returns gamma to round-off, its interval of zero width
    assert m.gamma == pytest.approx(gamma, rel=1e-9)
    assert m.gamma_lo == pytest.approx(gamma, rel=1e-6) and m.gamma_hi == pytest.approx(gamma, rel=1e-6)
    # c_v: ML-EM with p = 1/2 against EM with the top model. Its terminal error is the linear
    # image of the independent Bernoulli terms (B_l / p - 1) d_l (d_l = level l's offset minus
    # level l-1's), so per component j it has mean 0 and variance
    # v_j = sum_n (h w_n prop_n)^2 sum_l (1/p - 1) d_lj^2: the expected squared error is sum_j v_j
    coef = np.sum((h * w * prop) ** 2)
    d = np.zeros((L, L))
    for l in range(1, L):
        d[l, l], d[l, l - 1] = a[l], -a[l - 1]
    v = coef * (1 / 0.5 - 1) * np.sum(d[1:] ** 2, axis=0)
    pred = T * h * np.sum(delta[1:] ** 2 * (1 / 0.5 - 1))
    # the measured c_v is the mean of n_paths squared errors over pred; the error is a sum of
    # 32 x 3 independent bounded terms, nearly Gaussian, so Var |err|^2 = 2 sum_j v_j^2:
    # 4 standard errors (a false alarm about 1e-4)
    se = np.sqrt(2 * np.sum(v ** 2) / n_paths) / pred
    assert abs(m.scalars["c_v"] - v.sum() / pred) < 4 * se, (m.scalars["c_v"], v.sum() / pred, se)
    assert m.scalars["c_h"] > 0 and m.scalars["T"] == T
    # the same pilot in chunks of 96 paths (the deployed batch) with eps_l, delta_l measured on
    # held-out data: the planted differences do not depend on the points, and each path keeps
    # its Bernoulli draws whatever chunk it runs in (per-sample draws), so every number is equal
    chunked = measure_ladder(planted_eps(a, L), shape=(L,), n_paths=n_paths, n_steps=n_steps, seed=3,
                             dtype=torch.float64, costs=cost, repeats=1, progress=False, batch=96,
                             data=torch.randn(40, L, generator=torch.Generator().manual_seed(0)))
    assert chunked.pilot["trajectories"] == "data"
    for k in ("eps", "delta", "bias"):
        np.testing.assert_allclose([f[k] for f in chunked.facts], facts[k], rtol=1e-9, atol=1e-12)
    assert chunked.scalars["c_v"] == pytest.approx(m.scalars["c_v"], rel=1e-9)


@pytest.mark.parametrize("parameterisation", ["eps", "v", "x0"])
def test_vp_parameterisations_give_the_exact_drift_of_gaussian_data(parameterisation):
    # data N(0, I): x_t ~ N(0, I), score -x, so eps = sigma x, x0 = E[x0 | x_t] = alpha x and
    # v = alpha eps - sigma x0 = 0; each must become the drift beta (x/2 - x) (k = 1) or
    # beta (x/2 - x/2) = 0 (the ODE, k = 1/2)
    from mlem_bench.sampling.measure import LevelDrift, VPSchedule
    sch = VPSchedule()

    def model(x, t):
        alpha = torch.exp(vp.log_alpha.py_func(t, vp.BETA_MIN, vp.BETA_MAX))[:, None]
        sigma = torch.sqrt(1 - alpha ** 2)
        return {"eps": sigma * x, "x0": alpha * x, "v": 0 * x}[parameterisation]

    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = torch.tensor([0.0, 0.2, 0.5, 0.9, 0.99], dtype=torch.float64)
    beta = (vp.BETA_MIN + (vp.BETA_MAX - vp.BETA_MIN) * (1 - s))[:, None]
    for ode, want in ((False, -beta * x / 2), (True, 0 * x)):
        got = LevelDrift(model, sch, parameterisation, torch.float64, ode)(x, s)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("parameterisation", ["denoiser", "eps"])
def test_edm_ode_reaches_the_exact_flow_of_gaussian_data_at_first_order(parameterisation):
    # data N(0, I): x_sigma ~ N(0, (1 + sigma^2) I), D = x / (1 + sigma^2); the probability-flow
    # ODE carries x to x sqrt(1 + sigma_min^2) / sqrt(1 + sigma_max^2). EM on the rho-spaced grid
    # is first order: its error must halve (within 10%: the next order) when the steps double,
    # and is within 10% at 256 steps (it is 25% at 64: the rho-spaced grid's first steps are long)
    from mlem_bench.sampling.measure import EDMSchedule, LevelDrift, em
    sch = EDMSchedule(sigma_min=0.002, sigma_max=80.0, rho=7.0)

    def model(x, sigma):
        d = x / (1 + sigma[:, None] ** 2)
        return d if parameterisation == "denoiser" else (x - d) / sigma[:, None]

    drift = LevelDrift(model, sch, parameterisation, torch.float64, ode=True)
    x0 = torch.full((1, 2), 80.0, dtype=torch.float64)
    exact = 80.0 * np.sqrt(1 + 0.002 ** 2) / np.sqrt(1 + 80.0 ** 2)
    err = [abs(float(em(drift, sch, x0, n, n, 0, 0, True)[0, 0]) - exact) for n in (64, 128, 256)]
    assert err[-1] < 0.1 * exact, err
    np.testing.assert_allclose(np.array(err[:-1]) / np.array(err[1:]), 2.0, rtol=0.1)


def em_error_cost(drift, sch, x0, ref, steps, R, seed, cost):
    from mlem_bench.sampling.measure import em
    out = []
    for n in steps:
        x = em(drift, sch, x0, n, R, seed, 0, False)
        out.append((float(torch.sqrt(((x - ref).double() ** 2).sum(1).mean())), n * cost))
    return np.array(out)


def interp_cost(points, e):
    """Cost at error e on a curve of (error, cost) points, linear in log-log."""
    o = np.argsort(points[:, 0])
    return float(np.exp(np.interp(np.log(e), np.log(points[o, 0]), np.log(points[o, 1]))))


def test_trained_ladder_predicted_speedup_matches_measured(score_mlps):
    from mlem_bench.sampling.measure import LevelDrift, VPSchedule, em, measure_ladder, prior_sample
    from mlem_bench.sampling.multilevel import MultilevelModel
    m = measure_ladder(score_mlps, n_paths=128, n_steps=32, seed=0, progress=False)
    model, lad = m.error_model()
    L = len(score_mlps)
    sch = VPSchedule()
    drifts = [LevelDrift(f, sch, "eps", torch.float32, False) for f in score_mlps]
    # measured on fresh paths (seed 1; the pilot used seed 0) against the top model's EM on
    # a 1024-step grid, same Brownian path: EM with the top model at dyadic steps ...
    N, R, seed = 256, 1024, 1
    x0 = prior_sample(sch, seed, 0, N, (2,), torch.float32, "cpu")
    ref = em(drifts[-1], sch, x0, R, R, seed, 0, False)
    em_meas = em_error_cost(drifts[-1], sch, x0, ref, (16, 32, 64, 128, 256), R, seed, lad.cost[L])
    # ... and the error model's own EM curve of the top model (b_L = 0: error c_h T / n)
    em_pred = np.array([(model.c_h * model.T / n, n * lad.cost[L]) for n in (16, 32, 64, 128, 256)])
    # c_h (from the pilot's 32-step grid) predicts the top model's EM error on fresh paths: the
    # measured RMS over 256 paths has relative SE ~ 1/sqrt(2 x 256) = 4.4% (4 SE: 18%) and is
    # taken against a 1024-step reference, itself off by at most 1/8 of the error for n <= 128
    ratio = em_meas[1:4, 0] / em_pred[1:4, 0]          # n = 32, 64, 128
    assert np.all((ratio > 1 / 1.3) & (ratio < 1.3)), ratio
    for target in (0.09, 0.06):
        knob, c = m.config_at(target)
        assert c.level == L, (target, c)        # ML-EM up to the top model: compared with EM on the top model
        mm = MultilevelModel(drifts, c.probs[1:], seed=seed)
        x = em(mm, sch, x0, c.n_steps, R, seed, 0, False)
        e_ml = float(torch.sqrt(((x - ref).double() ** 2).sum(1).mean()))
        cost_ml = float(np.dot(mm.evaluations[1:], lad.cost[1:])) / N        # counted, per path
        # S = EM's cost at ML-EM's error / ML-EM's cost, predicted (error model) and measured,
        # both with EM's cost interpolated in log-log between dyadic grids (no rounding to a grid)
        s_pred = interp_cost(em_pred, c.predicted_error) / c.predicted_cost
        s_meas = interp_cost(em_meas, e_ml) / cost_ml
        # within a factor 1.5: the pilot's constants come from 128 paths (RMS errors with
        # relative SE ~ 1/sqrt(2 x 128) = 6%, c_v about twice that), the measured errors from
        # 256 paths (4%), and the model adds the three errors in quadrature; a wrong c_h, c_v or
        # delta by a factor 2 moves S_pred (via the steps or p_l) by more than this
        assert 1 / 1.5 < s_meas / s_pred < 1.5, (target, knob, s_pred, s_meas, e_ml, c.predicted_error)


def test_cli_measure_writes_the_table_predict_reads(tmp_path, score_mlps):
    out = tmp_path / "ladder.toml"
    r = run_cli(["measure", str(SPEC), "--out", str(out), "--quiet"])
    assert r.returncode == 0, r.stderr
    assert "ML-EM at target error 0.06" in r.stdout and "c_h" in r.stdout
    levels, scalars = read_levels(out)
    assert len(levels) == 3 and levels[-1]["error"] == 0.0 and set(scalars) == {"T", "c_h", "c_v", "min_steps"}
    p = run_cli(["predict", str(out)])
    assert p.returncode == 0, p.stderr
    assert "predicted speed-up" in p.stdout
    # the same table as CSV with the scalars as the options `predict_options` writes: the same prediction
    from mlem_bench.analysis.predict import predict_options
    csv = tmp_path / "ladder.csv"
    write_levels(csv, levels, scalars)
    q = run_cli(["predict", str(csv), *predict_options(scalars).split()])
    assert q.returncode == 0, q.stderr
    assert q.stdout.splitlines()[1:] == p.stdout.splitlines()[1:]


BAD = [
    ("", 'shape = [2]\n', "missing loader"),
    ('loader = "no_such_module:f"', 'shape = [2]\n', "loader = 'no_such_module:f': cannot import"),
    ('loader = "model_family:MIXTURE"', 'shape = [2]\n', "has no function 'MIXTURE'"),
    ('loader = "model_family:random_mlps"\nloader_args = { widths = [4] }', 'shape = [2]\n',
     "it must return a list of at least 2 callable models"),
    ('loader = "model_family:random_mlps"', 'shape = [2]\ncolour = 1\n', "unknown field colour"),
    ('loader = "model_family:random_mlps"', 'shape = [2]\n[measure]\nsteps = 12\n',
     r"\[measure\].steps must be a power of two"),
    ('loader = "model_family:random_mlps"', 'shape = [2]\n[measure]\npath = 12\n', r"unknown field \[measure\].path"),
    ('loader = "model_family:random_mlps"', 'shape = [2]\nparameterisation = "denoiser"\n',
     "parameterisation = 'denoiser' is not one of the vp"),
    ('loader = "model_family:random_mlps"', 'shape = [2]\n[schedule]\nkind = "edm"\nbeta_min = 0.1\n',
     r"\[schedule\].beta_min does not apply to kind = 'edm'"),
]


@pytest.mark.parametrize("loader,rest,message", BAD, ids=[b[2][:30] for b in BAD])
def test_cli_measure_bad_spec_exits_2_with_one_line(tmp_path, loader, rest, message):
    import re
    spec = tmp_path / "spec.toml"
    spec.write_text(loader + "\n" + rest)
    (tmp_path / "model_family.py").write_text((EXAMPLES / "model_family.py").read_text())
    r = run_cli(["measure", str(spec), "--quiet", "--out", str(tmp_path / "t.toml")])
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), r.stderr
