"""The compiled standard-normal draw against NumPy's own: the same numbers and the same generator state
afterwards, for every bit generator; and the Gaussian law checked on its own (moments, tails)."""

import numpy as np
import pytest
from scipy import stats

from wgf.geometry.normals import standard_normal, standard_normal_transposed
from wgf.geometry.sphere import sample_uniform
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


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937], ids=lambda b: b.__name__)
@pytest.mark.parametrize("n,k,rows", [(1100, 11, 12), (5, 4, 4), (3, 1, 8), (0, 3, 4)])
def test_transposed_draw(bit_generator, n, k, rows):
    """standard_normal_transposed: NumPy's (n, k) draw transposed into (rows, n), zero rows below, the
    generator left where NumPy's draw leaves it."""
    ours, numpy = np.random.Generator(bit_generator(5)), np.random.Generator(bit_generator(5))
    XT = standard_normal_transposed(ours, n, k, rows)
    ref = np.zeros((rows, n))
    ref[:k] = numpy.standard_normal((n, k)).T
    assert XT.shape == (rows, n) and XT.flags.c_contiguous
    assert np.array_equal(XT, ref)
    assert _same_state(ours.bit_generator.state, numpy.bit_generator.state)
    legacy = standard_normal_transposed(np.random.RandomState(2), n, k, rows)
    ref[:k] = np.random.RandomState(2).standard_normal((n, k)).T
    assert np.array_equal(legacy, ref)


def test_transposed_draw_rejects_too_few_rows():
    with pytest.raises(ValueError, match="rows must be >= k"):
        standard_normal_transposed(np.random.default_rng(0), 5, 4, 3)


def test_draws_from_two_threads_stay_consistent():
    """Two threads drawing from one generator (each call holds the bit generator's lock): together they use
    exactly the numbers of 8 consecutive draws, each call a contiguous piece of the stream."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(17)
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda _: standard_normal(rng, 50_000), range(8)))
    stream = np.random.default_rng(17).standard_normal(8 * 50_000).reshape(8, 50_000)
    matched = []
    for part in parts:
        hits = [j for j in range(8) if np.array_equal(stream[j], part)]
        assert len(hits) == 1
        matched.append(hits[0])
    assert sorted(matched) == list(range(8))


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
