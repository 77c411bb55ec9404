"""`analysis.predict` against answers computed without it: a three-level table whose EM and
ML-EM configurations, probabilities, costs and speed-up at one target are derived by hand from
the error budget (tuning/configure.py's docstring) and the probabilities by an independent
constrained optimiser (scipy SLSQP) instead of the water-filling."""
import pytest

from mlem_bench.analysis.predict import error_model, predict
from predict_by_hand import C_H, EPS, LEVELS, T, by_hand


@pytest.fixture(scope="module")
def predicted():
    model, ladder = error_model(LEVELS, T=T, c_h=C_H)
    # max_refine 0: the hand derivation takes the largest step the budget allows
    return predict(model, ladder, splits=(0.5,), var_shares=(0.5,), max_refine=0, eps=[EPS])


def test_configurations_and_probabilities_match_the_hand_derivation(predicted):
    configs, _ = predicted
    want = by_hand()
    em = configs[configs.method == "em"].iloc[0]
    ml = configs[configs.method == "mlem"].iloc[0]
    assert em.level == ml.level == want["level"] == 3
    assert em.n_steps == want["n_em"] and em.pred_cost == pytest.approx(want["em_cost"], rel=1e-12)
    assert ml.n_steps == want["n"]
    assert ml.probs[1:] == pytest.approx(want["p"], rel=1e-4)       # SLSQP's own tolerance
    assert 0 < ml.probs[2] < ml.probs[1] < 1                          # neither saturated: a real trade
    assert ml.pred_cost == pytest.approx(want["mlem_cost"], rel=1e-4)


def test_predicted_speedup_is_the_cost_ratio(predicted):
    configs, curve = predicted
    want = by_hand()
    assert len(curve) == 1 and curve.error.iloc[0] == EPS
    assert curve.speedup.iloc[0] == pytest.approx(want["em_cost"] / want["mlem_cost"], rel=1e-4)
    assert curve.speedup.iloc[0] > 1
