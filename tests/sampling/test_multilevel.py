"""sampling.MultilevelModel: unbiased for the top level, evaluation counts and costs as
expected, per-sample draws (reproducible, independent across samples, levels and steps,
blind to the batch), the top model itself when every p = 1, float32 differences, bad probs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch samplers need the 'learned' extra (torch==2.13.0)")

from mlem_bench.sampling.multilevel import MultilevelModel  # noqa: E402

PROBS = [1.0, 0.6, 0.3, 0.1]


class Affine:
    """A cheap level: x * a + c with fixed random a, c per coordinate (a distinct output per level)."""

    def __init__(self, level, dim, dtype=torch.float32):
        g = torch.Generator().manual_seed(level)
        self.a = (1 + torch.randn(dim, generator=g)).to(dtype)
        self.c = torch.randn(dim, generator=g).to(dtype)

    def __call__(self, x, t=None):
        return x.to(self.a.dtype) * self.a + self.c


def ladder(dim=6, dtype=torch.float32):
    return [Affine(level, dim, dtype) for level in range(1, len(PROBS) + 1)]


def test_mean_over_samples_is_the_top_level_and_counts_match_their_expectation():
    """40,000 samples at one point: each row is an independent draw of the estimator."""
    from mlem_bench.tuning.configure import mlem_step_cost
    n, dim = 40_000, 6
    levels = ladder(dim)
    x = torch.full((n, dim), 0.7)
    m = MultilevelModel(levels, PROBS, seed=3)
    out = m(x).double()
    top = levels[-1](x[:1]).double()[0]
    mean, se = out.mean(0), out.std(0) / np.sqrt(n)
    # 6 coordinates, two-sided: |z| < 4 everywhere has false-alarm probability 6 x 6.3e-5 < 4e-4
    z = ((mean - top) / se).abs().max().item()
    assert z < 4, z
    # level l is evaluated on a sample when B_l or B_{l+1} is drawn (level 1 always):
    # 1 - (1 - p_l)(1 - p_{l+1}), p_{L+1} = 0; binomial standard errors, |z| < 4 for each level
    p = np.append(PROBS, 0.0)
    q = np.array([1.0] + [1 - (1 - p[l]) * (1 - p[l + 1]) for l in range(1, len(PROBS))])
    frac = m.evaluations[1:] / n
    zc = np.abs(frac - q) / np.sqrt(np.maximum(q * (1 - q), 1e-300) / n)
    assert m.evaluations[1] == n and np.all(zc[1:] < 4), (frac, q)
    # the cost of a step: the known answer of tuning.configure.mlem_step_cost (as the Numba
    # kernels count it), within 4 standard errors of the per-sample cost
    cost = np.array([0.0, 1.0, 4.0, 16.0, 64.0])

    class Costs:
        pass
    lad = Costs()
    lad.cost = cost
    per_sample = m.last_evaluated @ cost
    expected = mlem_step_cost(lad, len(PROBS), np.concatenate([[0.0], PROBS]))
    assert abs(per_sample.mean() - expected) < 4 * per_sample.std() / np.sqrt(n), (per_sample.mean(), expected)
    assert np.array_equal(m.last_evaluated.sum(0), m.evaluations)
    # the differences enter with probability p_l: the draws' means, 4 binomial standard errors
    b = m.draws(n).numpy()[:, 2:len(PROBS) + 1].mean(0)
    pl = np.array(PROBS[1:])
    assert np.all(np.abs(b - pl) < 4 * np.sqrt(pl * (1 - pl) / n)), b


def test_draws_are_independent_across_samples_levels_and_steps():
    n = 20_000
    m = MultilevelModel(ladder(), PROBS, seed=5)
    b0 = m.draws(2 * n).numpy().astype(float)
    m.step = 1
    b1 = m.draws(n).numpy().astype(float)
    # correlations of independent Bernoulli columns are ~ N(0, 1/n): |r| < 4 / sqrt(n)
    bound = 4 / np.sqrt(n)
    pairs = [(b0[:n, 2], b0[n:, 2]),      # sample i against sample n + i, same level and step
             (b0[:n, 2], b0[:n, 3]),      # levels 2 and 3 of one sample
             (b0[:n, 3], b1[:, 3])]       # one sample, steps 0 and 1
    for u, v in pairs:
        assert abs(np.corrcoef(u, v)[0, 1]) < bound


def test_same_seed_same_output_and_a_sample_ignores_its_batch():
    levels = ladder()
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    a = MultilevelModel(levels, PROBS, seed=9)(x)
    assert torch.equal(a, MultilevelModel(levels, PROBS, seed=9)(x))
    assert not torch.equal(a, MultilevelModel(levels, PROBS, seed=10)(x))
    # samples 3, 11 and 7 alone, in another order, give their rows of the full batch
    rows = [3, 11, 7]
    sub = MultilevelModel(levels, PROBS, seed=9)(x[rows], samples=np.array(rows))
    assert torch.equal(sub, a[rows])
    # sample_offset numbers a later batch: samples 8..15 as a batch of their own
    late = MultilevelModel(levels, PROBS, seed=9, sample_offset=8)(x[8:])
    assert torch.equal(late, a[8:])
    # the step is part of the key: a second call draws anew
    m = MultilevelModel(levels, PROBS, seed=9)
    m(x)
    assert not torch.equal(m.draws(16), MultilevelModel(levels, PROBS, seed=9).draws(16))
    assert m.steps == 1 and m.step == 1


def test_every_p_one_is_the_top_output_and_leading_ones_collapse():
    levels = ladder()
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    m = MultilevelModel(levels, [1, 1, 1, 1])
    assert torch.equal(m(x), levels[-1](x))
    assert list(m.evaluations[1:]) == [0, 0, 0, 8]
    # p_2 = 1: level 1 is never needed; level 2 is the base of the sum
    m = MultilevelModel(levels, [1, 1, 0.5, 0.5], seed=2)
    m(x)
    assert m.evaluations[1] == 0 and m.evaluations[2] == 8


def test_differences_are_float32_for_bfloat16_levels():
    levels = ladder(dtype=torch.bfloat16)
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(2))
    m = MultilevelModel(levels, PROBS, seed=4)
    B = m.draws(64).numpy()
    out = m(x)
    f = [lv(x).float() for lv in levels]
    ref = f[0].clone()
    for l in range(2, len(PROBS) + 1):
        ref += torch.from_numpy(B[:, l])[:, None] * (f[l - 1] - f[l - 2]) / PROBS[l - 1]
    assert out.dtype == torch.float32
    # the same float32 operations in the same order: equal to the last bit
    assert torch.equal(out, ref)


def test_a_generator_replaces_the_keyed_draws_reproducibly():
    levels = ladder()
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(3))
    a = MultilevelModel(levels, PROBS, generator=torch.Generator().manual_seed(1))(x)
    b = MultilevelModel(levels, PROBS, generator=torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b) and not torch.equal(a, MultilevelModel(levels, PROBS, seed=0)(x))


@pytest.mark.parametrize("probs, match", [([1, 0.5], r"probs has 2 entries for 4 levels"),
                                          ([1, 0.5, 0, 0.1], r"probs\[2\] = 0.0: every probability must lie in \(0, 1\]"),
                                          ([0.5, 0.5, 0.5, 0.1], r"probs\[0\] = 0.5: .* p_1 = 1")])
def test_bad_probs_are_named(probs, match):
    with pytest.raises(ValueError, match=match):
        MultilevelModel(ladder(), probs)
