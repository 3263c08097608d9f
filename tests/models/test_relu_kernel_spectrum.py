"""The spectrum of the ReLU kernel on the sphere of input weights: eigenvalues decaying like
l^-(d+3), i.e. the kernel of the Sobolev space H^s with s = (d + 3)/2, the correspondence on which the
polynomial local rate of Chizat, Colombo, Colombo and Fernández-Real (arXiv 2603.01977) rests.

References independent of the kernel code: on S^1 the cosine coefficients of
``kappa(t) = (sin t + (pi - t) cos t) / (2 pi)`` in closed form, ``4 / (pi^2 (n^2 - 1)^2)`` for even n (and n =
0), ``1/4`` for n = 1 and 0 for odd n >= 3 (integrate by parts four times: the third derivative of
kappa(|t|) jumps by 4/(2 pi) at t = 0); on S^2 the Funk–Hecke eigenvalues by Gauss–Legendre quadrature.
"""

import numpy as np
from scipy.special import eval_legendre, roots_legendre

from wgf.models.relu_kernel import relu_kappa


def _kappa_at_angles(t: np.ndarray, dim: int) -> np.ndarray:
    """kappa(e_1, v) for unit v in R^dim at the angles t from e_1."""
    V = np.zeros((t.size, dim))
    V[:, 0] = np.cos(t)
    V[:, 1] = np.sin(t)
    e1 = np.zeros((1, dim))
    e1[0, 0] = 1.0
    return relu_kappa(e1, V)[0]


def _slope(n, c):
    return np.polyfit(np.log(n), np.log(np.abs(c)), 1)[0]


def test_circle_cosine_coefficients_in_closed_form():
    N = 8192  # kappa(|t|) is C^2 with a jump of its third derivative: the FFT aliasing error is O(N^-4)
    t = 2 * np.pi * np.arange(N) / N
    c = 2 * np.fft.rfft(_kappa_at_angles(t, 2)).real / N
    even = np.arange(0, 64, 2)
    assert np.allclose(c[even], 4 / (np.pi ** 2 * (even ** 2 - 1.0) ** 2), rtol=1e-8, atol=0)
    assert abs(c[1] - 0.25) < 1e-12
    assert np.max(np.abs(c[3:64:2])) < 1e-14
    # the decay exponent 2 s = d + 3 = 4 (d = 1), fitted
    n = np.arange(8, 64, 2)
    assert abs(_slope(n, c[n]) + 4.0) < 0.05


def test_sphere_funk_hecke_eigenvalues_decay_like_l_to_the_minus_five():
    x, w = roots_legendre(4000)
    k = _kappa_at_angles(np.arccos(x), 3)
    ls = np.arange(12, 62, 2)
    lam = np.array([np.sum(w * k * eval_legendre(l, x)) for l in ls])
    assert np.all(lam > 0)
    assert abs(_slope(ls, lam) + 5.0) < 0.15  # 2 s = d + 3 = 5 (d = 2); -4.92 over this range
    # odd l >= 3 vanish (relu(z) = z/2 + |z|/2: only the linear part is odd), up to the quadrature's error
    # at the kernel's kink, against lambda_10 of the same quadrature
    odd = np.array([np.sum(w * k * eval_legendre(l, x)) for l in (3, 5, 7, 9, 11)])
    lam10 = np.sum(w * k * eval_legendre(10, x))
    assert np.max(np.abs(odd)) < 1e-6 * lam10
