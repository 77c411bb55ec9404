"""The ML-EM drift estimator as a torch module over any ladder of models of one signature.

f^1 + sum_{l=2..L} B_l / p_l (f^l - f^{l-1}), with B_l ~ Bernoulli(p_l) drawn per sample:
sample i's draws at step n are the uniforms the SDE kernels draw for path i at step n
(`numerics.kernels.per_sample_uniforms`), so they depend on the seed, the sample's index
and the step, never on the batch the sample is evaluated in. Level l is evaluated on the
samples that need it (B_l or B_{l+1}: the difference of level l or of level l + 1), gathered
into one smaller batch; leading levels with p = 1 collapse to one evaluation of the highest
of them, so with every p = 1 the output is the top model's output, bit for bit.
"""
import numpy as np

from ..numerics.kernels import per_sample_uniforms
from ..optional import require_torch

torch = require_torch()


def check_probs(probs, n_levels):
    """probs as a float64 array of n_levels entries, p_1 = 1 and every p in (0, 1]; a
    ValueError naming the entry otherwise."""
    p = np.asarray(probs, dtype=float).reshape(-1)
    if p.size != n_levels:
        raise ValueError(f"probs has {p.size} entries for {n_levels} levels: give one per level, coarsest first")
    bad = np.flatnonzero(~((p > 0) & (p <= 1)))
    if bad.size:
        raise ValueError(f"probs[{bad[0]}] = {p[bad[0]]}: every probability must lie in (0, 1]")
    if p[0] != 1:
        raise ValueError(f"probs[0] = {p[0]}: the coarsest level is evaluated at every step, so p_1 = 1")
    return p


def first_evaluated(probs):
    """The level m that `MultilevelModel` evaluates on every sample: the highest of the
    leading levels with p = 1 (their differences are always drawn, so they collapse to f^m)."""
    m = 1
    while m < len(probs) and probs[m] >= 1.0:   # probs[m] is p_{m+1}
        m += 1
    return m


def expected_evaluations(probs):
    """Expected fraction of a step's samples on which `MultilevelModel` evaluates each level
    (index 0 unused): 1 for level m = `first_evaluated`, 0 below it, and
    1 - (1 - p_l)(1 - p_{l+1}) above it (p_{L+1} = 0). `tuning.configure.mlem_step_cost`
    counts as the kernels do, level 1 at every step even when p_2 = 1."""
    p = check_probs(probs, len(probs))
    m = first_evaluated(p)
    q = np.zeros(p.size + 1)
    q[m] = 1.0
    q[m + 1:] = 1.0 - (1.0 - p[m:]) * (1.0 - np.append(p[m + 1:], 0.0))
    return q


def gather(value, rows, batch):
    """value restricted to the samples `rows` when it is batched (a tensor whose first
    dimension is the batch), else value itself (scalars, shared conditioning)."""
    if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch:
        return value[rows]
    return value


def in_precision_of(out, x):
    """The combined output `out` cast down to the precision of the samples `x` when x is
    narrower (float16, bfloat16 sampling loops feed the step the models' own precision);
    the combination itself stays in float32."""
    if x.dtype.is_floating_point and x.dtype.itemsize < out.dtype.itemsize:
        return out.to(x.dtype)
    return out


class MultilevelModel(torch.nn.Module):
    """ML-EM combination of the outputs of `levels` (coarsest first).

    Parameters
    ----------
    levels : sequence of callables of one signature ``level(x, *args, **kwargs) -> tensor``
        shaped like x (modules are registered as submodules). Positional and keyword
        arguments whose first dimension is the batch are gathered with x.
    probs : sequence of L probabilities p_l in (0, 1] with p_1 = 1.
    seed : int
        Key of the per-sample draws (ignored when `generator` is given).
    generator : torch.Generator, optional
        Draw the uniforms from this generator instead: reproducible for one batch, but not
        keyed by sample index.

    Every call is one step: the step counter advances by one (``reset`` sets it). The
    sample indices of a call are ``sample_offset + arange(batch)`` unless ``samples`` is
    passed. ``evaluations[l]`` counts the samples level l was evaluated on (index 0 unused),
    summed over calls, ``steps`` the calls, and ``last_evaluated`` ((batch, L + 1) booleans)
    says which levels the last call evaluated on each sample (per-sample costs). In
    expectation level l > 1 is evaluated on a fraction 1 - (1 - p_l)(1 - p_{l+1}) of the
    samples of a step (p_{L+1} = 0; as `tuning.configure.mlem_step_cost` counts), while
    its difference enters with probability p_l. Differences are taken in float32 (float64 when the outputs are
    float64); the result has the dtype of the top output promoted to at least float32,
    except when every p = 1, where it is the top output itself.
    """

    def __init__(self, levels, probs, seed=0, generator=None, sample_offset=0):
        super().__init__()
        self.levels = list(levels)
        if not self.levels:
            raise ValueError("levels: give at least one model")
        if all(isinstance(m, torch.nn.Module) for m in self.levels):
            self.modules_ = torch.nn.ModuleList(self.levels)
        self.probs = check_probs(probs, len(self.levels))
        self.seed = int(seed)
        self.generator = generator
        self.sample_offset = int(sample_offset)
        self.reset()

    @property
    def n_levels(self):
        return len(self.levels)

    def reset(self, step=0):
        """Start again at step `step` with zeroed counters."""
        self.step = int(step)
        self.steps = 0
        self.evaluations = np.zeros(self.n_levels + 1, dtype=np.int64)
        self.last_evaluated = np.zeros((0, self.n_levels + 1), dtype=bool)

    def draws(self, batch, samples=None):
        """(batch, L + 2) boolean B_l of this step (columns 0, 1 and L + 1 are True, True,
        False: level 1 always, no level above L); does not advance the step."""
        L = self.n_levels
        if self.generator is not None:
            u = torch.rand((batch, L + 1), generator=self.generator,
                           device=self.generator.device, dtype=torch.float64).cpu().numpy()
        else:
            if samples is None:
                samples = self.sample_offset + np.arange(batch)
            u = per_sample_uniforms(self.seed, np.asarray(samples), self.step, L + 1)
        b = np.zeros((batch, L + 2), dtype=bool)
        b[:, :L + 1] = u < np.concatenate([[1.0, 1.0], self.probs[1:]])
        return torch.from_numpy(b)

    def forward(self, x, *args, samples=None, **kwargs):
        """The ML-EM combination at x for this step (then the step advances). `samples`:
        the sample indices of x's rows (default ``sample_offset + arange(batch)``)."""
        batch = x.shape[0]
        B = self.draws(batch, samples).to(x.device)
        self.step += 1
        self.steps += 1
        L = self.n_levels
        m = first_evaluated(self.probs)
        out = self.levels[m - 1](x, *args, **kwargs)
        self.evaluations[m] += batch
        evaluated = np.zeros((batch, L + 1), dtype=bool)
        evaluated[:, m] = True
        self.last_evaluated = evaluated
        if m == L:
            return out
        acc = torch.promote_types(out.dtype, torch.float32)
        # a copy: the sums below are in place, and a level may hand back a tensor it keeps
        combined = out.to(dtype=acc, copy=True)
        below = out            # f^{l-1} on the rows `below_rows` (all rows for l - 1 = m)
        below_rows = torch.arange(batch, device=x.device)
        for l in range(m + 1, L + 1):
            need = B[:, l] | B[:, l + 1]
            rows = torch.nonzero(need).flatten()
            if rows.numel() == 0:
                below, below_rows = None, rows
                continue
            f = self.levels[l - 1](x[rows], *(gather(a, rows, batch) for a in args),
                                   **{k: gather(v, rows, batch) for k, v in kwargs.items()})
            self.evaluations[l] += rows.numel()
            evaluated[:, l] = need.cpu().numpy()
            take = torch.nonzero(B[rows, l]).flatten()      # positions within `rows`
            if take.numel():
                # f^{l-1} is known on every row that needs level l's difference: B_l implies
                # level l - 1 was evaluated there (by B_l itself)
                pos = torch.searchsorted(below_rows, rows[take])
                diff = f[take].to(acc) - below[pos].to(acc)
                combined[rows[take]] += diff / float(self.probs[l - 1])
            below, below_rows = f, rows
        return combined
