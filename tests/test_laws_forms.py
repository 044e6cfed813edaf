"""Each law: analytic Jacobian, parameter recovery from noisy synthetic data, the verbs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab import constants, laws
from scalinglab.errors import ScalinglabError

NOISE = 0.003  # multiplicative log-normal noise on the loss, ~0.3%


def _table(loss: np.ndarray, **inputs: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(inputs)
    table["loss"] = loss
    table["run"] = [f"r{i}" for i in range(len(table))]
    return table


def _noisy(loss: np.ndarray, seed: int) -> np.ndarray:
    return loss * np.exp(np.random.default_rng(seed).normal(0.0, NOISE, loss.size))


def _grid(n_values: np.ndarray, d_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, d = np.meshgrid(n_values, d_values, indexing="ij")
    return n.ravel(), d.ravel()


def _case(name: str) -> tuple[laws.Law, dict[str, float], pd.DataFrame]:
    """A law, its true parameters and a noisy synthetic table generated from them."""
    if name == "power":
        true = {"X0": 2.3e28, "a": 0.05}
        x = np.geomspace(1e15, 1e21, 40)
        return laws.get_law("power"), true, _table(_noisy((true["X0"] / x) ** true["a"], 1),
                                                   flops=x)
    if name == "saturating":
        true = {"E": 1.7, "X0": 1e10, "a": 0.3}
        x = np.geomspace(1e6, 1e12, 40)
        loss = true["E"] + (true["X0"] / x) ** true["a"]
        return laws.get_law("saturating", x="tokens"), true, _table(_noisy(loss, 2), tokens=x)
    if name == "kaplan-nd":
        true = dict(constants.KAPLAN_LND)
        n, d = _grid(np.geomspace(1e5, 1e10, 8), np.geomspace(1e6, 1e11, 8))
        loss = ((true["Nc"] / n) ** (true["aN"] / true["aD"]) + true["Dc"] / d) ** true["aD"]
        return laws.get_law("kaplan-nd"), true, _table(_noisy(loss, 3), params=n, tokens=d)
    if name == "chinchilla":
        true = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
        n, d = _grid(np.geomspace(1e7, 1e10, 8), np.geomspace(1e8, 1e12, 6))
        loss = true["E"] + true["A"] / n ** true["alpha"] + true["B"] / d ** true["beta"]
        return laws.get_law("chinchilla"), true, _table(_noisy(loss, 4), params=n, tokens=d)
    if name == "chinchilla-tied":
        true = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.36}
        n, d = _grid(np.geomspace(1e7, 1e10, 8), np.geomspace(1e8, 1e12, 6))
        loss = true["E"] + true["A"] / n ** true["alpha"] + true["B"] / d ** true["alpha"]
        return laws.get_law("chinchilla-tied"), true, _table(_noisy(loss, 6), params=n, tokens=d)
    if name == "broken-power":
        true = {"E": 1.5, "b": 30.0, "c0": 0.05, "c1": 0.4, "d1": 1e8, "f1": 0.5}
        x = np.geomspace(1e5, 1e11, 60)
        loss = true["E"] + true["b"] * x ** -true["c0"] * (
            1 + (x / true["d1"]) ** (1 / true["f1"])
        ) ** (-true["c1"] * true["f1"])
        return laws.get_law("broken-power"), true, _table(_noisy(loss, 5), tokens=x)
    raise AssertionError(name)


# Scales (coefficients, break points) are looser than exponents: they trade off with them.
SCALE_RTOL, EXPONENT_RTOL = 0.15, 0.05
SCALES = {"X0", "A", "B", "Nc", "Dc", "b", "d1"}


@pytest.mark.parametrize("name", laws.law_names())
def test_recovers_known_parameters_from_noisy_data(name: str) -> None:
    law, true, table = _case(name)
    assert law.fit(table) is law
    assert law.result_.converged, law.result_.message
    assert law.result_.n_starts_at_best >= 2
    assert law.result_.n_points == len(table)
    for param, value in true.items():
        rtol = SCALE_RTOL if param in SCALES else EXPONENT_RTOL
        assert law.params_[param] == pytest.approx(value, rel=rtol), param
    # The fitted curve reproduces the data to about the noise level.
    residual = np.log(law.predict(table)) - np.log(table["loss"])
    assert np.sqrt(np.mean(residual**2)) < 2 * NOISE


@pytest.mark.parametrize("name", laws.law_names())
def test_jacobian_matches_finite_differences(name: str) -> None:
    law, _, table = _case(name)
    log_x = law.log_inputs(table, "t")
    rng = np.random.default_rng(0)
    theta = law.start_candidates(log_x, np.log(table["loss"].to_numpy()))[3]
    theta = theta + rng.normal(0, 0.05, theta.size)
    value, jac = law.log_predict_jac(theta, log_x)
    np.testing.assert_allclose(value, law.log_predict(theta, log_x), rtol=1e-12)
    step = 1e-6
    numeric = np.stack([
        (law.log_predict(theta + step * e, log_x) - law.log_predict(theta - step * e, log_x))
        / (2 * step)
        for e in np.eye(theta.size)
    ])
    np.testing.assert_allclose(jac, numeric, rtol=1e-5, atol=1e-6)


def test_log_predict_is_vectorised_over_parameter_vectors() -> None:
    law, _, table = _case("chinchilla")
    log_x = law.log_inputs(table, "t")
    thetas = law.start_candidates(log_x, np.log(table["loss"].to_numpy()))[:7]
    batch = law.log_predict(thetas, log_x)
    assert batch.shape == (7, len(table))
    np.testing.assert_allclose(batch[4], law.log_predict(thetas[4], log_x))


def test_predict_takes_a_dict_or_a_frame_and_names_bad_input() -> None:
    law = laws.published_law("chinchilla-epoch")
    from_dict = law.predict({"params": [1e9, 7e10], "tokens": [2e10, 1.4e12]})
    from_frame = law.predict(pd.DataFrame({"params": [1e9, 7e10], "tokens": [2e10, 1.4e12]}))
    np.testing.assert_allclose(from_dict, from_frame)
    p = constants.CHINCHILLA_EPOCH
    expected = p["E"] + p["A"] / 1e9 ** p["alpha"] + p["B"] / 2e10 ** p["beta"]
    assert from_dict[0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ScalinglabError, match="missing column 'tokens'"):
        law.predict({"params": [1e9]})
    with pytest.raises(ScalinglabError, match="row 2, column 'params'"):
        law.predict({"params": [1e9, -1.0], "tokens": [1e10, 1e10]})


def test_to_dict_round_trip_keeps_options_params_and_result() -> None:
    law, _, table = _case("saturating")
    law.fit(table)
    again = laws.law_from_dict(law.to_dict())
    assert again.name == "saturating" and again.x == "tokens"
    assert again.params_ == law.params_
    assert again.result_.objective == law.result_.objective
    np.testing.assert_allclose(again.predict(table), law.predict(table))


def test_get_law_names_and_options() -> None:
    assert laws.get_law("power", x="tokens").inputs == ("tokens",)
    assert laws.get_law("chinchilla", params_column="params_nonembedding").inputs == (
        "params_nonembedding", "tokens")
    assert laws.get_law("broken-power").inputs == ("tokens",)
    with pytest.raises(ScalinglabError, match="did you mean 'chinchilla'"):
        laws.get_law("chinchila")
    with pytest.raises(ScalinglabError, match="unknown option"):
        laws.get_law("chinchilla", x="tokens")
    with pytest.raises(ScalinglabError, match="x must be one of"):
        laws.get_law("power", x="loss")


def test_too_few_points_for_the_law() -> None:
    law, _, table = _case("chinchilla")
    with pytest.raises(ScalinglabError, match="4 rows, but the chinchilla law has 5 parameters"):
        law.fit(table.head(4))


def test_unfitted_law_cannot_predict() -> None:
    with pytest.raises(ScalinglabError, match="not fitted"):
        laws.get_law("power").predict({"flops": [1e20]})


def test_published_laws_carry_the_constants() -> None:
    hoffmann = laws.published_law("chinchilla-hoffmann")
    assert hoffmann.params_ == constants.CHINCHILLA_HOFFMANN
    assert laws.published_law("chinchilla-epoch").params_ == constants.CHINCHILLA_EPOCH
    kaplan = laws.published_law("kaplan")
    assert kaplan.name == "kaplan-nd" and kaplan.inputs == ("params_nonembedding", "tokens")
    assert kaplan.params_ == constants.KAPLAN_LND
    # With unlimited data Kaplan's law is (Nc/N)^aN.
    loss = kaplan.predict({"params_nonembedding": [1e9], "tokens": [1e30]})[0]
    assert loss == pytest.approx((6.4e13 / 1e9) ** 0.076, rel=1e-9)
    again = laws.law_from_dict(kaplan.to_dict())
    assert again.published_name == "kaplan" and again.params_ == kaplan.params_
    with pytest.raises(ScalinglabError, match="unknown published law"):
        laws.published_law("gopher")


@pytest.mark.parametrize("name", laws.law_names())
def test_recentring_the_inputs_keeps_the_curve(name: str) -> None:
    law, true, table = _case(name)
    log_x = law.log_inputs(table, "t")
    theta = law.theta_from_params(true)
    shift = log_x.mean(axis=1)
    moved = law.recentre(theta, shift)
    np.testing.assert_allclose(law.log_predict(moved, log_x - shift[:, None]),
                               law.log_predict(theta, log_x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(law.recentre(moved, -shift), theta, rtol=1e-12)
