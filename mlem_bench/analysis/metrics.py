"""Errors of terminal samples beyond the strong one: per-batch strong errors (for
jackknife intervals) and distributional errors against the exact terminal law."""
import numpy as np

N_PROJECTIONS = 64   # sliced Wasserstein directions; fixed, so every run sees the same ones


def batch_bounds(n_paths, batches):
    """Path index bounds of `batches` contiguous batches (sizes differ by at most one)."""
    return np.linspace(0, n_paths, batches + 1).round().astype(int)


def batch_means(values, batches):
    """Mean of `values` (n_paths,) over each batch of paths."""
    b = batch_bounds(values.shape[0], batches)
    return np.array([values[b[j]:b[j + 1]].mean() for j in range(batches)])


def sliced_w2(a, b, n_projections=N_PROJECTIONS, seed=0):
    """Sliced Wasserstein-2 distance between equal-size samples a, b of shape (n, d).

    W2 along each of `n_projections` fixed random unit directions is the RMS
    difference of the sorted projections; the result is the root mean of their squares.
    """
    if a.shape != b.shape:
        raise ValueError(f"sliced_w2 needs samples of equal shape (got {a.shape} and {b.shape})")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((a.shape[1], n_projections))
    u /= np.linalg.norm(u, axis=0)
    pa, pb = np.sort(a @ u, axis=0), np.sort(b @ u, axis=0)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


def weak_errors(x, mean, cov, exact):
    """Distributional errors of samples x (n, d) against the exact law of X_T.

    mean, cov: the closed-form terminal mean and covariance; exact: independent
    exact samples of the same size. Returns |mean(x) - mean|, ||cov(x) - cov||_F
    and the sliced W2 distance to `exact`.
    """
    c = np.atleast_2d(np.cov(x, rowvar=False))
    return {"mean_err": float(np.linalg.norm(x.mean(axis=0) - mean)),
            "cov_err": float(np.linalg.norm(c - cov)),
            "sw2": sliced_w2(x, exact)}
