"""The compiled standard-normal draw against NumPy's own: the same numbers and the same generator state
afterwards, for every bit generator; and the Gaussian law checked on its own (moments, tails)."""

import numpy as np
import pytest
from scipy import stats

from wgf.normals import standard_normal
from wgf.sphere import sample_uniform
from wgf.models import TeacherStudent

BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.SFC64, np.random.MT19937, np.random.Philox]


def _same_state(a, b) -> bool:
    """Equality of two bit-generator states (nested dicts of ints, strings and arrays)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("shape", [(0,), 1, (7,), (300, 101), (2, 3, 5)])
def test_same_stream_and_state_as_numpy(bit_generator, shape):
    ours = np.random.Generator(bit_generator(20261123))
    numpy = np.random.Generator(bit_generator(20261123))
    ours.standard_normal(3)  # start mid-stream
    numpy.standard_normal(3)
    x = standard_normal(ours, shape)
    ref = numpy.standard_normal(shape)
    assert x.dtype == np.float64 and x.shape == ref.shape and x.flags.c_contiguous
    assert np.array_equal(x, ref)
    assert _same_state(ours.bit_generator.state, numpy.bit_generator.state)
    # the next draws, of any kind, continue identically
    assert np.array_equal(ours.random(5), numpy.random(5))


def test_long_stream_crosses_ziggurat_tail():
    """2e6 draws reach the ziggurat's slow paths (wedges, |x| > 3.65 tail) many times; still identical."""
    ours, numpy = np.random.default_rng(7), np.random.default_rng(7)
    x = standard_normal(ours, 2_000_000)
    assert np.array_equal(x, numpy.standard_normal(2_000_000))
    assert np.sum(np.abs(x) > 3.6541528853610088) > 200


def test_gaussian_law():
    """Independent of NumPy: the first four moments and a Kolmogorov–Smirnov test against N(0, 1)."""
    x = standard_normal(np.random.default_rng(11), 400_000)
    n = x.size
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(x)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(x)) < 5 * np.sqrt(24 / n)
    assert stats.kstest(x, "norm").pvalue > 1e-4


def test_other_generators_use_their_own_draw():
    legacy = np.random.RandomState(3)
    assert np.array_equal(standard_normal(legacy, (4, 2)), np.random.RandomState(3).standard_normal((4, 2)))


def test_callers_keep_numpy_streams():
    """sample_uniform and TeacherStudent.sample_inputs give what NumPy's draw gives."""
    x = np.random.default_rng(5).standard_normal((50, 4))
    assert np.array_equal(sample_uniform(50, 3, 5), x / np.linalg.norm(x, axis=1, keepdims=True))
    model = TeacherStudent(np.eye(4)[:2])
    assert np.array_equal(model.sample_inputs(60, 9), np.random.default_rng(9).standard_normal((60, model.dx)))
