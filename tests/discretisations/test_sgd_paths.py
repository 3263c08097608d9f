"""The online SGD step's two code paths (one compiled serial loop for small steps, the parallel kernels for
large ones) give the same bits; batching the steps of a block changes nothing; ``train_on`` with the
trainer's own inputs replays its own stream."""

import math

import numpy as np
import pytest

import wgf
import wgf.discretisations.network_sgd as network_sgd
from wgf.geometry import sphere
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.models.relu_features import transpose_inputs


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _model(dx, m0, seed, lam=0.0):
    return wgf.TeacherStudent(_teacher(dx, m0, seed), weight_decay=lam)


CONFIGS = [
    dict(sequential=False, layer_steps=(1.0, 1.0), lam=0.0, batch=60),
    dict(sequential=True, layer_steps=(1.0, 20.0), lam=0.0, batch=60),
    dict(sequential=False, layer_steps=(0.5, 2.0), lam=0.05, batch=60),
    dict(sequential=True, layer_steps=(1.0, 3.0), lam=0.05, batch=60),
    dict(sequential=True, layer_steps=(1.0, 3.0), lam=0.0, batch=700),   # two tiles of samples per batch
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_fused_and_parallel_paths_agree_bitwise(cfg, monkeypatch):
    """Same weights, bit for bit, after 70 steps of batch 60 (blocks of 33 batches: two block boundaries
    crossed) or 700 (two tiles of samples), width 7 (padded to 8), dx = 13 (padded to 16)."""
    model = _model(13, 3, 1, cfg["lam"])
    W0 = initial_weights(7, 13, kind="balanced", radius=math.sqrt(2), seed=2)
    kw = dict(step_size=0.01, layer_steps=cfg["layer_steps"], sequential=cfg["sequential"], method="sgd",
              batch_size=cfg["batch"], seed=5)
    fused = NetworkTrainer(model, W0, **kw)
    assert fused._fused()
    n = 70 if cfg["batch"] < 100 else 5
    fused.step(n)
    monkeypatch.setattr(network_sgd, "SERIAL_WORK", 0.0)   # every step through the parallel kernels
    par = NetworkTrainer(model, W0, **kw)
    assert not par._fused()
    par.step(n)
    assert par.steps == fused.steps == n
    assert np.array_equal(par.weights, fused.weights)
    assert not np.allclose(par.weights, W0)


def test_block_batched_steps_equal_single_steps():
    """step(n) runs the SGD steps of a block in one compiled call; advance with a callback runs one step per
    call: same bits."""
    model = _model(10, 4, 3)
    W0 = initial_weights(9, 10, seed=4)
    kw = dict(step_size=0.02, method="sgd", batch_size=25, seed=9)
    a = NetworkTrainer(model, W0, **kw)
    a.step(200)
    b = NetworkTrainer(model, W0, **kw)
    calls = []
    b.advance(200 * 0.02, callback=lambda s: calls.append(s.steps) and False)
    assert len(calls) == 200 and b.steps == 200
    assert np.array_equal(a.weights, b.weights)


def test_train_on_replays_the_own_stream_and_validates():
    """The trainer's inputs are row-wise Gaussian draws from its generator in blocks; drawing them at once
    from a generator with the same seed and passing them to train_on gives the same trajectory."""
    model = _model(6, 2, 5)
    W0 = initial_weights(5, 6, kind="balanced", seed=6)
    kw = dict(step_size=0.01, layer_steps=(1.0, 10.0), sequential=True, method="sgd", batch_size=10, seed=11)
    own = NetworkTrainer(model, W0, **kw)
    own.step(450)   # crosses blocks of 200 batches
    ext = NetworkTrainer(model, W0, **kw)
    X = model.sample_inputs(450 * 10, np.random.default_rng(11))
    ext.train_on(X[:2000])
    ext.train_on(X[2000:], model.target(X[2000:]), transposed=transpose_inputs(X[2000:]))
    assert ext.steps == 450
    assert np.array_equal(own.weights, ext.weights)
    with pytest.raises(ValueError, match="multiple of batch_size"):
        ext.train_on(X[:15])
    with pytest.raises(ValueError, match="y must have shape"):
        ext.train_on(X[:10], np.zeros(3))
    with pytest.raises(ValueError, match="transposed must be"):
        ext.train_on(X[:10], transposed=X[:10])
    with pytest.raises(ValueError, match="method='sgd'"):
        NetworkTrainer(model, W0, step_size=0.1).train_on(X[:10])


@pytest.mark.parametrize("serial_work", [None, 0.0])
def test_sgd_blowup_keeps_the_last_finite_weights(serial_work, monkeypatch):
    if serial_work is not None:
        monkeypatch.setattr(network_sgd, "SERIAL_WORK", serial_work)
    model = _model(4, 2, 7)
    net = NetworkTrainer(model, 40 * initial_weights(6, 4, seed=1), step_size=3.0, method="sgd", batch_size=8)
    with pytest.raises(FloatingPointError, match="blew up at step"):
        net.step(10_000)
    assert 0 < net.steps < 10_000 and np.all(np.isfinite(net.weights))


class _SamplerOnly(wgf.TeacherStudent):
    """Teacher–student without ``sample_training_block``: the trainer's generic path (``sample_inputs``,
    then the transpose and ``target`` on the calling thread)."""

    sample_training_block = None


@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
def test_block_sampler_equals_generic_draw(inputs):
    """TeacherStudent.sample_training_block gives transpose_inputs(X) and target(X) for X = sample_inputs(n),
    bit for bit, and leaves the generator where sample_inputs leaves it."""
    rng = np.random.default_rng(4)
    teacher = np.column_stack([rng.choice([-1.0, 1.0], 3), sphere.sample_uniform(3, 10, rng)])
    model = wgf.TeacherStudent(teacher, inputs=inputs)
    a, b = np.random.default_rng(8), np.random.default_rng(8)
    XT, y = model.sample_training_block(1100, a)          # three tiles of samples, dx = 11 padded to 12
    X = model.sample_inputs(1100, b)
    assert XT.shape == (12, 1100) and y.shape == (1100,)
    assert np.array_equal(XT, transpose_inputs(X))
    assert np.array_equal(y, model.target(X))
    assert np.array_equal(a.random(3), b.random(3))


@pytest.mark.parametrize("threads", [1, 2])
def test_generic_and_block_sampler_paths_agree_bitwise(threads):
    """The trainer on a model with the block sampler (drawn on the prefetch thread when two Numba threads are
    allowed) and on the same model without it (inputs, transpose and teacher outputs on the calling thread):
    the same weights, bit for bit, across block boundaries."""
    import numba

    model = _model(13, 3, 1)
    plain = _SamplerOnly(_teacher(13, 3, 1))
    W0 = initial_weights(6, 13, seed=2)
    kw = dict(step_size=0.01, method="sgd", batch_size=50, seed=5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        fast = NetworkTrainer(model, W0, **kw)
        generic = NetworkTrainer(plain, W0, **kw)
        fast.step(130)                                     # blocks of 40 batches: four blocks begun
        generic.step(130)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(fast.weights, generic.weights)
    assert not np.allclose(fast.weights, W0)
