"""Plain NumPy re-implementations used to check the Numba kernels (independent code)."""
import numpy as np

from mlem_bench.numerics.drift import MAX_LEVELS
from mlem_bench.numerics.rng import STREAM_BERNOULLI, stream_uniforms


def ou_drift(problem, t, x):
    return -x @ problem.theta.T


def gmm_drift(problem, s, x):
    t = 1.0 - s
    w, m, v = problem.marginal(t)
    diff = m[None] - x[:, None, :]                                  # (n, K, d)
    lg = np.log(w) - 0.5 * (diff ** 2).sum(-1) / v - 0.5 * problem.dim * np.log(v)
    r = np.exp(lg - lg.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    score = (r[:, :, None] * diff / v[None, :, None]).sum(1)
    beta = problem.beta_min + (problem.beta_max - problem.beta_min) * t
    k = 0.5 if not problem.noisy else 1.0
    return beta * (0.5 * x + k * score)


def diffusion(problem, s):
    if problem.family == "ou":
        return problem.sigma
    if not problem.noisy:
        return 0.0
    return np.sqrt(problem.beta_min + (problem.beta_max - problem.beta_min) * (1.0 - s))


def learned_level(problem, ladder, l, s, x):
    """f^l of a learned ladder (tests/helpers.RandomLearnedLadder) at solver time s."""
    tau = 1.0 - s
    u = 2.0 * tau - 1.0
    k = np.arange(1, ladder.n_freq + 1)
    feat = np.stack([np.sin(np.pi * k * u), np.cos(np.pi * k * u)], axis=1).ravel()
    a = np.concatenate([x, np.full((x.shape[0], 1), u), np.tile(feat, (x.shape[0], 1))], axis=1)
    layers = ladder.layers[l]
    for j, (W, b) in enumerate(layers):
        a = a @ W.T + b
        if j < len(layers) - 1:
            a = a / (1.0 + np.exp(-a))
    alpha = problem.alpha(tau)
    sigma = np.sqrt(1.0 - alpha ** 2)
    m, v = ladder.skip
    eps_hat = a + sigma * (x - alpha * m) / (alpha ** 2 * v + sigma ** 2)
    beta = problem.beta_min + (problem.beta_max - problem.beta_min) * tau
    kf = 0.5 if not problem.noisy else 1.0
    return beta * (0.5 * x + kf * (-eps_hat / sigma))


def level(problem, ladder, l, t, x):
    f = ou_drift(problem, t, x) if problem.family == "ou" else gmm_drift(problem, t, x)
    if l == 0:
        return f
    if hasattr(ladder, "layers"):
        return learned_level(problem, ladder, l, t, x)
    eps, _, freq, tfreq, phase, amp, _ = ladder.arrays(problem.dim)
    arg = x @ freq[l].T + tfreq[l] * t + phase[l]                  # (n, M)
    return f + eps[l] * np.cos(arg) @ amp[l]


def em(problem, ladder, l, dW, x0):
    n_steps = dW.shape[1]
    h = problem.T / n_steps
    x = x0.copy()
    for n in range(n_steps):
        x = x + h * level(problem, ladder, l, n * h, x) + diffusion(problem, n * h) * dW[:, n]
    return x


def mlem(problem, ladder, k, probs, dW, x0, seed):
    n_paths, n_steps, _ = dW.shape
    h = problem.T / n_steps
    u = stream_uniforms(seed, STREAM_BERNOULLI, n_paths, n_steps * MAX_LEVELS)
    x = x0.copy()
    for n in range(n_steps):
        t = n * h
        vals = [None] + [level(problem, ladder, l, t, x) for l in range(1, k + 1)]
        F = vals[1].copy()
        for l in range(2, k + 1):
            B = u[:, n * MAX_LEVELS + l] < probs[l]
            F += (B / probs[l])[:, None] * (vals[l] - vals[l - 1])
        x = x + h * F + diffusion(problem, t) * dW[:, n]
    return x
