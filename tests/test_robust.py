"""Robust photometric weights (facefit.fit.robust): losses, IRLS weights, derivatives, scale."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff
from facefit.backends import to_numpy
from facefit.fit.robust import (
    ROBUST_LOSSES,
    RobustOptions,
    robust_loss,
    robust_scale,
    robust_weights,
)

from .conftest import assert_close


@pytest.mark.parametrize("loss", ROBUST_LOSSES)
def test_weights_are_the_loss_derivative_by_complex_step(backend64, loss):
    """w = rho'(s) and dw/ds = rho''(s), checked by complex step on the backend."""
    s = np.linspace(0.0, 0.5, 41)
    sigma2 = 0.01
    h = 1e-30
    xs = backend64.asarray(s + 0j * s) + 1j * h if backend64.name != "torch" else None
    if xs is None:
        import torch

        xs = torch.complex(torch.tensor(s, dtype=torch.float64),
                           torch.full((s.size,), h, dtype=torch.float64))
    step_rho = np.imag(to_numpy(robust_loss(xs, sigma2, loss))) / h
    step_w = np.imag(to_numpy(robust_weights(xs, sigma2, loss))) / h
    plain = backend64.asarray(s)
    assert_close(robust_weights(plain, sigma2, loss), step_rho, rtol=1e-12)
    assert_close(robust_weights(plain, sigma2, loss, derivative=True), step_w, rtol=1e-12)


@pytest.mark.parametrize("loss", ROBUST_LOSSES)
def test_weights_are_one_for_small_and_small_for_large_residuals(backend, loss):
    s = backend.asarray(np.array([0.0, 1e-6, 0.01, 1.0]))
    w = to_numpy(robust_weights(s, 0.01, loss))
    assert w[0] == 1.0 and w[1] > 0.999
    assert 0.2 < w[2] < 0.6  # at s = sigma^2: 1/2 (Cauchy), 1/4 (Geman-McClure)
    assert w[3] < 0.011  # 100 sigma^2 away
    # Geman-McClure redescends: its weight falls faster than Cauchy's.
    if loss == "geman-mcclure":
        assert w[3] < to_numpy(robust_weights(s, 0.01, "cauchy"))[3] / 50


def test_scale_is_a_median_over_visible_samples_with_a_floor(backend):
    norms = np.array([0.1, 0.2, 0.3, 5.0, 9.0, 0.0])
    visible = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0])  # 9.0 is hidden
    sigma2 = robust_scale(backend.asarray(norms**2), backend.asarray(visible), 2.0, 1e-3)
    median = 0.2  # of 0.0, 0.1, 0.2, 0.3, 5.0
    assert sigma2 == pytest.approx((2.0 * 1.4826 * median) ** 2, rel=1e-5)
    assert robust_scale(backend.asarray(norms**2 * 0), backend.asarray(visible), 2.0, 0.05) == \
        pytest.approx(0.05**2)


def test_bad_options_raise():
    with pytest.raises(ff.FitError, match="valid choices: cauchy, geman-mcclure"):
        RobustOptions("huberish")
    with pytest.raises(ff.FitError, match="positive"):
        RobustOptions(factor=0.0)
