"""SDE problems with known answers: dX = f(t, X) dt + g(t) dW on [0, T].

The noise is additive and isotropic (g(t) a scalar), as in diffusion models; EM is
then strong order 1. Each problem declares what the tests and runner need: its
drift and diffusion as jitted functions ``drift(t, x, params, out)`` and
``diffusion(t, params) -> float``, initial states, a terminal reference on the same
Brownian path, and closed-form terminal moments where they exist.
"""
from collections import namedtuple

import numpy as np
import scipy.linalg
import scipy.special
from numba import njit, prange

from .numerics import vp
from .numerics.brownian import depth_of
from .numerics.drift import UserFunctions
from .numerics.rng import (STREAM_BROWNIAN, STREAM_EXACT, STREAM_INITIAL, STREAM_PAIR_OFFSET, fill_normals,
                           stream_key, stream_normals, stream_uniforms)
from .numerics.solve import Reference, fine_grid_reference


class Problem:
    """Base class. Subclasses set dim, T, drift, diffusion, params, min_steps, noisy, and
    optionally drift_block (the drift on a block of paths, numerics/drift.py; None: per point)."""

    drift_block = None

    family = "user"
    min_steps = 8      # smallest power-of-two step count at which EM is stable
    noisy = True       # False for ODEs: no Brownian increments are drawn

    def kernel_args(self):
        """What the kernels get (numerics/drift.py): the jitted functions as values, which
        Numba compiles in each process; built-in problems return their own cacheable tuple."""
        return UserFunctions(self.drift, self.drift_block, self.diffusion, self.params)

    def initial_states(self, seed, n_paths, path_offset=0):
        """Initial states, shape (n_paths, dim); may be random (stream STREAM_INITIAL)."""
        return np.broadcast_to(self.x0, (n_paths, self.dim)).copy()

    has_terminal_law = False   # True where terminal_mean, terminal_cov and exact_samples exist

    def exact_samples(self, seed, n_paths):
        """Independent samples of the exact law of X_T (stream STREAM_EXACT)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form terminal law")

    def reference(self, seed, n_paths, n_steps):
        """Terminal states on the paths of `seed` to compare with (default: exact-drift EM
        on n_steps, its own error estimated from n_steps / 2)."""
        return fine_grid_reference(self, seed, n_paths, n_steps)


def _vec(value, dim, name):
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        a = np.full(dim, float(a))
    if a.shape != (dim,):
        raise ValueError(f"[problem].{name} must be a number or a list of {dim} numbers (got shape {a.shape})")
    return a


@njit(cache=True)
def ou_drift(t, x, p, out):
    d = x.shape[0]
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += p[i * d + j] * x[j]
        out[i] = -s


@njit(cache=True)
def ou_drift_block(t, X, p, OUT):
    """ou_drift on a block X, OUT (d, m): the same sums per path, innermost over the paths."""
    d, m = X.shape
    for i in range(d):
        for b in range(m):
            OUT[i, b] = 0.0
        for j in range(d):
            pij = p[i * d + j]
            for b in range(m):
                OUT[i, b] += pij * X[j, b]
        for b in range(m):
            OUT[i, b] = -OUT[i, b]


@njit(cache=True)
def ou_diffusion(t, p):
    return p[-1]


class OUArrays(namedtuple("OUArrays", ["params"])):
    """The kernels' view of an Ornstein-Uhlenbeck problem: params [Theta (row-major), sigma];
    the class declares the jitted drift, so kernels compiled for it are cached."""
    __slots__ = ()
    drift_block = ou_drift_block
    diffusion = ou_diffusion


@njit(cache=True, parallel=True)
def _haar_sum(seed, path_offset, coef, mean, out):
    # X_T = mean + sum_m coef[m] @ z_m over the Brownian nodes m of each path; paths in
    # parallel (each its own normals: the result does not depend on the thread count)
    n_nodes, d, _ = coef.shape
    for i in prange(out.shape[0]):
        z = np.empty(n_nodes * d)
        fill_normals(stream_key(seed, STREAM_BROWNIAN, path_offset + i), z)
        for c in range(d):
            out[i, c] = mean[c]
        for m in range(n_nodes):
            for c in range(d):
                s = 0.0
                for k in range(d):
                    s += coef[m, c, k] * z[m * d + k]
                out[i, c] += s


class OrnsteinUhlenbeck(Problem):
    """dX = -Theta X dt + sigma dW in d dimensions, X_0 = x0.

    The reference is exact given the Brownian path: X_T = e^{-Theta T} x0 +
    sigma * int e^{-Theta (T-s)} dW_s, and with the Levy construction the integral is
    sum_m z_m <e^{-Theta (T-.)}, H_m> over Haar functions H_m; truncated at 2^J nodes
    its remaining variance is known exactly and reported as the reference's own error.
    """

    family = "ou"

    def __init__(self, dim, T=1.0, theta=1.0, sigma=1.0, x0=1.0):
        self.dim = int(dim)
        if self.dim < 1:
            raise ValueError(f"[problem].dim must be >= 1 (got {dim})")
        th = np.asarray(theta, dtype=float)
        th = th * np.eye(self.dim) if th.ndim == 0 else th
        if th.shape != (self.dim, self.dim) or not np.all(np.isfinite(th)):
            raise ValueError(f"[problem].theta must be a finite number or a {dim}x{dim} matrix (got shape {th.shape})")
        if not (np.isfinite(T) and T > 0):
            raise ValueError(f"[problem].T must be a finite number > 0 (got {T})")
        if not (np.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"[problem].sigma must be a finite number >= 0 (got {sigma})")
        self.T, self.theta, self.sigma = float(T), th, float(sigma)
        self.x0 = _vec(x0, self.dim, "x0")
        self.params = np.concatenate([th.ravel(), [self.sigma]])
        self.drift, self.diffusion, self.drift_block = ou_drift, ou_diffusion, ou_drift_block
        self.min_steps = max(4, int(2 ** np.ceil(np.log2(max(1.0, self.T * np.abs(np.linalg.eigvals(th)).max())))))

    has_terminal_law = True

    def kernel_args(self):
        return OUArrays(self.params)

    def terminal_mean(self):
        return scipy.linalg.expm(-self.theta * self.T) @ self.x0

    def exact_samples(self, seed, n_paths):
        # X_T is Gaussian: mean + L z with L L^T the terminal covariance
        cov = self.terminal_cov()
        L = np.linalg.cholesky(cov + 1e-300 * np.eye(self.dim)) if self.sigma > 0 else np.zeros_like(cov)
        return self.terminal_mean() + stream_normals(seed, STREAM_EXACT, n_paths, self.dim) @ L.T

    def terminal_cov(self):
        # Van Loan: expm([[-Theta, s^2 I], [0, Theta^T]] T) holds the Gramian.
        d = self.dim
        M = np.zeros((2 * d, 2 * d))
        M[:d, :d] = -self.theta
        M[:d, d:] = self.sigma ** 2 * np.eye(d)
        M[d:, d:] = self.theta.T
        E = scipy.linalg.expm(M * self.T)
        return E[:d, d:] @ scipy.linalg.expm(-self.theta.T * self.T)

    def haar_coefficients(self, depth):
        """Coefficient matrices of the first 2^depth Brownian nodes in X_T."""
        d, T, n = self.dim, self.T, 2 ** depth
        # Phi(tau) = int_0^tau e^{-Theta u} du on the grid tau_i = i T / n, by recurrence
        dt = T / n
        M = np.zeros((2 * d, 2 * d))
        M[:d, :d] = -self.theta
        M[:d, d:] = np.eye(d)
        E = scipy.linalg.expm(M * dt)
        e_step, phi_step = E[:d, :d], E[:d, d:]
        phi = np.empty((n + 1, d, d))
        phi[0] = 0.0
        e = np.eye(d)
        for i in range(n):
            phi[i + 1] = phi[i] + e @ phi_step
            e = e @ e_step
        # G(a, b) = int_a^b e^{-Theta (T - s)} ds = Phi(T - a) - Phi(T - b), grid indices
        def G(ia, ib):
            return phi[n - ia] - phi[n - ib]
        coef = np.empty((n, d, d))
        coef[0] = G(0, n) / np.sqrt(T)
        m = 1
        half = n // 2
        while half >= 1:
            length = 2 * half * dt
            left = np.arange(0, n, 2 * half)
            coef[m:m + left.size] = (G(left, left + half) - G(left + half, left + 2 * half)) / np.sqrt(length)
            m += left.size
            half //= 2
        return self.sigma * coef

    def reference(self, seed, n_paths, n_steps):
        depth = depth_of(n_steps)
        coef = self.haar_coefficients(depth)
        out = np.empty((n_paths, self.dim))
        _haar_sum(int(seed), 0, coef, self.terminal_mean(), out)
        rest = np.trace(self.terminal_cov()) - np.einsum("mck,mck->", coef, coef)
        return Reference(out, float(np.sqrt(max(rest, 0.0))), n_steps, "exact (Haar series)")


# --- Reverse VP diffusion of a Gaussian mixture ------------------------------------
# params layout: [beta_min, beta_max, t_min, ode(0/1), K, w(K), var(K), means(K*d)]
# (numerics.learned_kernel reads beta_min, beta_max and ode from the same places)

@njit(cache=True)
def gmm_score(t, x, p, out):
    """grad log p_t(x) for p_t = sum_i w_i N(a_t mu_i, (a_t^2 v_i + 1 - a_t^2) I).

    One pass with a running log-sum-exp (no allocation: this is the hot loop):
    out accumulates sum_i r_i (a mu_i - x) / var_i, rescaled when the max changes.
    """
    bmin, bmax, K = p[0], p[1], int(p[4])
    d = x.shape[0]
    a = vp.alpha(t, bmin, bmax)
    w0, v0, m0 = 5, 5 + K, 5 + 2 * K
    for c in range(d):
        out[c] = 0.0
    best = -np.inf
    tot = 0.0
    for i in range(K):
        var = a * a * p[v0 + i] + 1.0 - a * a
        q = 0.0
        for c in range(d):
            r = x[c] - a * p[m0 + i * d + c]
            q += r * r
        logr = np.log(p[w0 + i]) - 0.5 * q / var - 0.5 * d * np.log(var)
        if logr > best:
            scale = np.exp(best - logr)
            tot *= scale
            for c in range(d):
                out[c] *= scale
            best = logr
        r_i = np.exp(logr - best)
        tot += r_i
        for c in range(d):
            out[c] += r_i * (a * p[m0 + i * d + c] - x[c]) / var
    for c in range(d):
        out[c] /= tot


@njit(cache=True)
def gmm_score_rows(t, x, p, out):
    """gmm_score of each row x[i] at its own diffusion time t[i]."""
    for i in range(x.shape[0]):
        gmm_score(t[i], x[i], p, out[i])


@njit(cache=True)
def gmm_reverse_drift(s, y, p, out):
    # solver time s in [0, 1 - t_min] runs diffusion time t = 1 - s backwards
    t = 1.0 - s
    b = vp.beta(t, p[0], p[1])
    gmm_score(t, y, p, out)
    k = 0.5 if p[3] > 0 else 1.0
    for c in range(y.shape[0]):
        out[c] = vp.reverse_drift(b, y[c], out[c], k)


@njit(cache=True)
def gmm_reverse_drift_block(s, Y, p, OUT):
    """gmm_reverse_drift on a block Y, OUT (d, m): the same running log-sum-exp per path,
    written component by component with the loops over the m paths innermost."""
    t = 1.0 - s
    bt = vp.beta(t, p[0], p[1])
    bmin, bmax, K = p[0], p[1], int(p[4])
    d, m = Y.shape
    a = vp.alpha(t, bmin, bmax)
    w0, v0, m0 = 5, 5 + K, 5 + 2 * K
    buf = np.empty(5 * m)          # best, total, squared distance, rescale, weight per path
    best, tot, q, sc, ri = buf[:m], buf[m:2 * m], buf[2 * m:3 * m], buf[3 * m:4 * m], buf[4 * m:]
    for b in range(m):
        best[b] = -np.inf
        tot[b] = 0.0
    for c in range(d):
        for b in range(m):
            OUT[c, b] = 0.0
    for i in range(K):
        var = a * a * p[v0 + i] + 1.0 - a * a
        c0 = np.log(p[w0 + i]) - 0.5 * d * np.log(var)
        for b in range(m):
            q[b] = 0.0
        for c in range(d):
            mu = a * p[m0 + i * d + c]
            for b in range(m):
                r = Y[c, b] - mu
                q[b] += r * r
        for b in range(m):
            lr = c0 - 0.5 * q[b] / var
            new = max(best[b], lr)
            sc[b] = np.exp(best[b] - new)
            ri[b] = np.exp(lr - new)
            tot[b] = tot[b] * sc[b] + ri[b]
            best[b] = new
        for c in range(d):
            mu = a * p[m0 + i * d + c]
            for b in range(m):
                OUT[c, b] = OUT[c, b] * sc[b] + ri[b] * (mu - Y[c, b]) / var
    k = 0.5 if p[3] > 0 else 1.0
    for c in range(d):
        for b in range(m):
            OUT[c, b] = vp.reverse_drift(bt, Y[c, b], OUT[c, b] / tot[b], k)


@njit(cache=True)
def gmm_reverse_diffusion(s, p):
    if p[3] > 0:
        return 0.0
    return np.sqrt(vp.beta(1.0 - s, p[0], p[1]))


class MixtureArrays(namedtuple("MixtureArrays", ["params"])):
    """The kernels' view of a reverse mixture diffusion (params laid out as above); the class
    declares the jitted drift, so kernels compiled for it are cached."""
    __slots__ = ()
    drift_block = gmm_reverse_drift_block
    diffusion = gmm_reverse_diffusion


class GaussianMixtureReverse(Problem):
    """Reverse VP diffusion of a Gaussian mixture, from t = 1 down to t_min.

    Forward: dX = -beta(t)/2 X dt + sqrt(beta(t)) dW, beta linear from beta_min to
    beta_max; data p_0 = sum_i w_i N(mu_i, v_i I). In solver time s = 1 - t the reverse
    SDE is dY = beta (Y/2 + score) ds + sqrt(beta) dW and the probability-flow ODE
    dY = beta (Y/2 + score/2) ds. Y_0 ~ p_1 exactly; Y at s = 1 - t_min has law p_{t_min}.
    """

    def __init__(self, weights, means, variances, beta_min=vp.BETA_MIN, beta_max=vp.BETA_MAX, t_min=vp.T_MIN,
                 ode=False):
        w = np.asarray(weights, dtype=float)
        mu = np.asarray(means, dtype=float)
        v = np.asarray(variances, dtype=float)
        if w.ndim != 1 or w.size < 1:
            raise ValueError("[problem].weights must be a non-empty list of numbers")
        if not np.all(np.isfinite(w)) or np.any(w <= 0) or abs(w.sum() - 1) > 1e-9:
            raise ValueError(f"[problem].weights must be positive and sum to 1 (got {w.tolist()}, sum {w.sum():.6g})")
        if mu.ndim != 2 or mu.shape[0] != w.size or not np.all(np.isfinite(mu)):
            raise ValueError(f"[problem].means must be a list of {w.size} finite vectors, one per weight (got shape {mu.shape})")
        if v.shape != (w.size,) or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"[problem].variances must be {w.size} numbers > 0, one per weight (got {v.tolist()})")
        if not (0 < beta_min <= beta_max and np.isfinite(beta_max)):
            raise ValueError(f"[problem].beta_min, beta_max must satisfy 0 < beta_min <= beta_max (got {beta_min}, {beta_max})")
        if not (0 < t_min < 1):
            raise ValueError(f"[problem].t_min must be in (0, 1) (got {t_min})")
        self.family = "gmm-ode" if ode else "gmm-sde"
        self.noisy = not ode
        self.weights, self.means, self.variances = w, mu, v
        self.dim = mu.shape[1]
        self.beta_min, self.beta_max, self.t_min = float(beta_min), float(beta_max), float(t_min)
        self.T = 1.0 - self.t_min
        self.params = np.concatenate([[beta_min, beta_max, t_min, 1.0 if ode else 0.0, w.size], w, v, mu.ravel()])
        self.drift, self.diffusion, self.drift_block = gmm_reverse_drift, gmm_reverse_diffusion, gmm_reverse_drift_block
        # EM is stable when h * max|d f/dx| < 2; at s = 0 that is h * beta_max / 2 < 2.
        self.min_steps = max(8, int(2 ** np.ceil(np.log2(self.beta_max))))

    def kernel_args(self):
        return MixtureArrays(self.params)

    def alpha(self, t):
        return float(vp.alpha(t, self.beta_min, self.beta_max))

    def marginal(self, t):
        """(weights, means, variances) of p_t."""
        a = self.alpha(t)
        return self.weights, a * self.means, a * a * self.variances + 1 - a * a

    def score(self, t, x):
        """grad log p_t at the points x (n, d); t a number or one diffusion time per point."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:1]).copy()
        out = np.empty_like(x)
        gmm_score_rows(t, x, self.params, out)
        return out

    def log_density(self, t, x):
        """log p_t at the points x (n, d)."""
        w, m, v = self.marginal(t)
        x = np.atleast_2d(np.asarray(x, dtype=float))
        q = ((x[:, None, :] - m[None]) ** 2).sum(-1)
        lg = np.log(w) - 0.5 * q / v - 0.5 * self.dim * np.log(2 * np.pi * v)
        return scipy.special.logsumexp(lg, axis=1)

    def sample(self, t, seed, n_paths, path_offset=0, stream=STREAM_INITIAL):
        """Exact samples of p_t, path i's sample a function of (seed, stream, i) only."""
        w, m, v = self.marginal(t)
        u = stream_uniforms(seed, stream, n_paths, 1, path_offset)[:, 0]
        comp = np.minimum(np.searchsorted(np.cumsum(w), u, side="right"), w.size - 1)
        z = stream_normals(seed, stream + STREAM_PAIR_OFFSET, n_paths, self.dim, path_offset)
        return m[comp] + np.sqrt(v[comp])[:, None] * z

    def initial_states(self, seed, n_paths, path_offset=0):
        return self.sample(1.0, seed, n_paths, path_offset)

    has_terminal_law = True

    def exact_samples(self, seed, n_paths):
        # the reverse SDE and the probability-flow ODE both end in law at p_{t_min}
        return self.sample(self.t_min, seed, n_paths, stream=STREAM_EXACT)

    def terminal_mean(self):
        w, m, _ = self.marginal(self.t_min)
        return w @ m

    def terminal_cov(self):
        w, m, v = self.marginal(self.t_min)
        mean = w @ m
        return sum(wi * (vi * np.eye(self.dim) + np.outer(mi - mean, mi - mean)) for wi, mi, vi in zip(w, m, v))


class UserProblem(Problem):
    """A problem from user-supplied jitted functions.

    Parameters
    ----------
    drift : numba dispatcher ``drift(t, x, params, out) -> None`` writing f(t, x) into out.
    diffusion : numba dispatcher ``diffusion(t, params) -> float``, the scalar g(t).
    dim, T : dimension and time horizon.
    x0 : initial state (number or list).
    params : 1-D float array passed to both functions.
    min_steps : smallest power-of-two step count at which EM is stable.
    drift_block : optional numba dispatcher ``drift_block(t, X, params, OUT) -> None`` writing
        f(t, X[:, b]) into OUT[:, b] for a block X, OUT of shape (dim, m): the same drift,
        faster when its loops run over the m paths (docs/performance.md).
    """

    def __init__(self, drift, diffusion, dim, T, x0, params=(), min_steps=8, name="user", drift_block=None):
        for nm, fn in (("drift", drift), ("diffusion", diffusion), ("drift_block", drift_block)):
            if fn is None and nm == "drift_block":
                continue
            if not hasattr(fn, "py_func"):
                raise TypeError(f"{nm} must be a numba.njit function (got {type(fn).__name__}); decorate it with @numba.njit")
        self.drift, self.diffusion, self.drift_block = drift, diffusion, drift_block
        self.dim, self.T = int(dim), float(T)
        if not (self.T > 0 and np.isfinite(self.T)):
            raise ValueError(f"T must be a finite number > 0 (got {T})")
        self.x0 = _vec(x0, self.dim, "x0")
        self.params = np.atleast_1d(np.asarray(params, dtype=float)).copy()
        if self.params.size == 0:
            self.params = np.zeros(1)
        self.min_steps = int(min_steps)
        depth_of(self.min_steps)
        self.name = name
