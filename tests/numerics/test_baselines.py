"""The baseline solvers against identities they must satisfy exactly."""
import numpy as np

from mlem_bench.numerics.solve import solve

K, N, PATHS = 6, 64, 300


def test_stitch_endpoints_are_em(ou, ladder):
    top = solve(ou, ladder, "em", K, N, PATHS, 2)
    coarse = solve(ou, ladder, "em", 1, N, PATHS, 2)
    assert np.array_equal(solve(ou, ladder, "stitch", K, N, PATHS, 2, switch_step=0).x, top.x)
    assert np.array_equal(solve(ou, ladder, "stitch", K, N, PATHS, 2, switch_step=N).x, coarse.x)
    mid = solve(ou, ladder, "stitch", K, N, PATHS, 2, switch_step=N // 4)
    assert np.all(mid.evals[:, 1] == N // 4) and np.all(mid.evals[:, K] == N - N // 4)
    assert np.allclose(mid.cost, N // 4 * ladder.cost[1] + (N - N // 4) * ladder.cost[K])


def test_shared_pattern(ou, ladder):
    p = np.full(ladder.levels + 1, 0.3)
    own = solve(ou, ladder, "mlem", K, N, PATHS, 2, probs=p)
    assert np.array_equal(solve(ou, ladder, "mlem", K, N, PATHS, 2, probs=p, share=1).x, own.x)
    shared = solve(ou, ladder, "mlem", K, N, PATHS, 2, probs=p, share=50)
    # paths of one group draw the same levels at every step: identical evaluation counts
    ev = shared.evals.reshape(PATHS // 50, 50, -1)
    assert np.all(ev == ev[:, :1]) and not np.all(ev == ev[:1, :1])
    # and the same law per path: mean cost agrees with independent patterns within noise
    assert abs(shared.cost.mean() / own.cost.mean() - 1) < 0.1


def test_schedule_counts_and_unit_probabilities(ou, ladder):
    ones = np.ones(ladder.levels + 1)
    assert np.array_equal(solve(ou, ladder, "schedule", K, N, PATHS, 2, probs=ones).x,
                          solve(ou, ladder, "mlem", K, N, PATHS, 2, probs=ones).x)
    p = np.ones(ladder.levels + 1)
    p[2:K + 1] = [1 / 2, 1 / 4, 1 / 8, 1 / 8, 1 / 16]
    s = solve(ou, ladder, "schedule", K, N, PATHS, 2, probs=p)
    # level K is drawn exactly every 16 steps (random phase): N / 16 times on every path
    assert np.all(s.evals[:, K] == N // 16)
    # level 1 every step
    assert np.all(s.evals[:, 1] == N)
