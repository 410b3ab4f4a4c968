"""Finite-difference gradient checks shared by the kernel tests (float64, central differences)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences; f maps an array shaped like x to a scalar.

    x is perturbed in place one element at a time and restored, so f must not keep x.
    """
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return grad


def assert_gradient_matches(analytic: np.ndarray, f: Callable[[np.ndarray], float], x: np.ndarray,
                            rtol: float = 1e-6, atol: float = 1e-7, eps: float = 1e-6) -> None:
    """Assert an analytic gradient equals the central-difference gradient of f at x."""
    numeric = numerical_gradient(f, np.array(x, dtype=np.float64, copy=True), eps)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def projection(rng: np.random.Generator, shape) -> np.ndarray:
    """A fixed random cotangent: checking d<proj, y>/dx tests every output's gradient at once."""
    return rng.standard_normal(shape)
