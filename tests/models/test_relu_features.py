"""The streamed ReLU-feature sums: Numba kernels against the NumPy references and a dense brute force,
bitwise independence of the thread count and of the other points in a call, the relu'(0) = 0 convention,
shape validation, and (slow) the memory of a large call."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from helpers import relative_error
from wgf._parallel import SERIAL_WORK
from wgf.geometry import sphere
from wgf.models.relu_features import (predict_transposed, relu_features_potential, relu_features_potential_numpy,
                               relu_features_predict, relu_features_predict_numpy, transpose_inputs)

# sizes around the kernels' blocks: 4 neurons per pass, 4 input coordinates per pass (k padded to 4),
# 16 points per work item, 512 samples per tile
SIZES = [(1, 1, 1, 1), (5, 3, 2, 2), (37, 41, 1001, 3), (16, 64, 512, 4), (200, 130, 2500, 17),
         (1000, 999, 700, 16), (3, 2, 0, 4), (0, 0, 5, 2)]


def _inputs(N, M, n, k, rng):
    P = sphere.sample_uniform(N, k, rng)
    Q = sphere.sample_uniform(M, k, rng)
    c = rng.standard_normal(M)
    X = rng.standard_normal((n, k))
    g = rng.standard_normal(n)
    return P, Q, c, X, g


@pytest.mark.parametrize("N,M,n,k", SIZES)
def test_numba_matches_numpy(N, M, n, k):
    rng = np.random.default_rng(N + M + n + k)
    P, Q, c, X, g = _inputs(N, M, n, k, rng)
    h = relu_features_predict(Q, c, X)
    assert h.shape == (n,)
    assert relative_error(h, relu_features_predict_numpy(Q, c, X)) < 1e-10
    J, G = relu_features_potential(P, X, g)
    Jr, Gr = relu_features_potential_numpy(P, X, g)
    assert J.shape == (N,) and G.shape == (N, k + 1)
    assert relative_error(J, Jr) < 1e-10 and relative_error(G, Gr) < 1e-10
    J2, G2 = relu_features_potential(P, X, g, with_grad=False)
    assert G2 is None and np.array_equal(J, J2)


def test_against_dense_brute_force():
    """Both implementations against the definitions written out with dense matrices (small sizes)."""
    rng = np.random.default_rng(1)
    P, Q, c, X, g = _inputs(23, 19, 300, 5, rng)
    Z = X @ Q[:, 1:].T
    assert relative_error(relu_features_predict(Q, c, X), np.where(Z > 0, Z, 0) @ (c * Q[:, 0])) < 1e-12
    Z = P[:, 1:] @ X.T                                   # (N, n)
    sa = np.where(Z > 0, Z, 0) @ g
    grad = np.column_stack([sa, P[:, :1] * ((Z > 0) * g @ X)])
    grad -= np.sum(grad * P, axis=1, keepdims=True) * P
    J, G = relu_features_potential(P, X, g)
    assert relative_error(J, P[:, 0] * sa) < 1e-12 and relative_error(G, grad) < 1e-12


def test_relu_derivative_at_zero_is_zero():
    """A sample exactly on the kink b . x = 0 contributes nothing to the gradient (relu'(0) = 0)."""
    P = np.array([[0.6, 0.8, 0.0]])
    X = np.array([[0.0, 1.0], [2.0, -1.0]])            # b . x = 0 exactly for the first sample
    g = np.array([1.0, 0.5])
    for fn in (relu_features_potential, relu_features_potential_numpy):
        J, G = fn(P, X, g)
        # only the second sample: d_a J = 0.5 * 1.6, grad_b J = a * 0.5 * x_2, then projected
        e = np.array([0.8, 0.6 * 1.0, 0.6 * -0.5])
        e -= (e @ P[0]) * P[0]
        assert J[0] == pytest.approx(0.6 * 0.8) and np.allclose(G[0], e, rtol=1e-15, atol=1e-16)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_bitwise_independent_of_threads_and_of_other_points():
    rng = np.random.default_rng(2)
    P, Q, c, X, g = _inputs(150, 77, 5000, 7, rng)
    # large enough for the parallel path (work = padded neurons x padded k x samples), while the calls
    # on a few points or samples below take the serial one
    assert 80 * 8 * 5000 > SERIAL_WORK and 2 * 16 * 8 * 5000 < 2 * SERIAL_WORK
    h = relu_features_predict(Q, c, X)
    J, G = relu_features_potential(P, X, g)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        h1 = relu_features_predict(Q, c, X)
        J1, G1 = relu_features_potential(P, X, g)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(h, h1) and np.array_equal(J, J1) and np.array_equal(G, G1)
    # a point's sums, and a sample's prediction, do not depend on what else is in the call
    Js, Gs = relu_features_potential(P[33:38], X, g)
    assert np.array_equal(Js, J[33:38]) and np.array_equal(Gs, G[33:38])
    assert np.array_equal(relu_features_predict(Q, c, X[1000:1003]), h[1000:1003])
    # the serial kernel (for worker threads) gives the parallel one's bits, also on a range of samples
    XT = transpose_inputs(X)
    assert np.array_equal(predict_transposed(Q, c, XT, serial=True), h)
    assert np.array_equal(predict_transposed(Q, c, XT, 1000, 3, serial=True), h[1000:1003])


@pytest.mark.parametrize("fn,args,match", [
    (relu_features_predict, (np.ones((3, 4)), np.ones(3), np.ones((5, 2))), "inputs must have shape"),
    (relu_features_predict, (np.ones((3, 4)), np.ones(2), np.ones((5, 3))), "coefficients"),
    (relu_features_predict, (np.ones(4), np.ones(1), np.ones((5, 3))), "neurons"),
    (relu_features_potential, (np.ones((3, 4)), np.ones((5, 3)), np.ones(4)), "sample weights"),
    (relu_features_potential, (np.ones((3, 4)), np.ones(5), np.ones(5)), "inputs must have shape"),
])
def test_shapes_are_validated(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


_MEMORY_SCRIPT = textwrap.dedent("""
    import json, re, sys
    import numpy as np
    from wgf.geometry import sphere
    from wgf.models.relu_features import relu_features_potential, relu_features_predict

    def status_mib(key):
        with open("/proc/self/status") as fh:
            return int(re.search(key + r":\\s+(\\d+)", fh.read()).group(1)) / 1024

    N, n, k = map(int, sys.argv[1:4])
    rng = np.random.default_rng(0)
    P = sphere.sample_uniform(N, k, rng)
    X = rng.standard_normal((n, k))
    relu_features_potential(P[:16], X[:16], np.ones(16))       # compile / load outside the measurement
    relu_features_predict(P[:16], np.ones(16), X[:16])
    before = status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:             # reset the high-water mark VmHWM
        fh.write("5")
    h = relu_features_predict(P, rng.random(N), X)
    J, G = relu_features_potential(P, X, h / n)
    print(json.dumps({"before_mib": before, "peak_mib": status_mib("VmHWM")}))
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_large_call_is_streamed():
    """N = n = 20000, k = 16: a (points x samples) matrix would take 3.2 GB; the streamed kernels add only
    O((N + n) k) memory (inputs, transposed copy, outputs: about 10 MB)."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, "20000", "20000", "16"], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    assert (mem["peak_mib"] - mem["before_mib"]) * 2**20 < 200e6
