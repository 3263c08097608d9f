"""HDF5 output: exact state round trip, atomic commits, path checks, format checks on reading."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

from wgf.app import io
from wgf.app.io import OutputFileError, OutputReader


def make_output(path, runs=(("a", "toy", "toy", {"n": 3}),)):
    io.create_output(path, config='title = "t"\n', case_name="t", title="t",
                     data={"model.teacher": np.arange(6.0).reshape(2, 3)}, runs=list(runs))


def commit_run(path, name="a", n=3, state=None, snapshots=1):
    series = {"time": np.linspace(0, 1, n), "step": np.arange(n, dtype=np.int64), "energy": np.ones(n)}
    snaps = [io.Snapshot(k, 0.5 * k, k, {"masses": np.full(4, float(k))}) for k in range(snapshots)]
    io.commit(path, [io.RunUpdate(name, attrs={"started": True, "completed": False}, series=series,
                                  snapshots=snaps, state=state if state is not None else {"x": np.zeros(3)},
                                  checkpoint_attrs={"time": 1.0, "step": n - 1, "next_stop": n,
                                                    "n_records": n, "n_snapshots": snapshots})])


# ------------------------------------------------------------------------------------------- state
def test_state_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    state = {
        "f": rng.standard_normal((5, 3)), "i": np.arange(7, dtype=np.int32), "b": np.array([True, False]),
        "z": np.array(2.5), "e": np.empty((0, 3)), "c": np.array([1 + 2j]),
        "t": 0.1 + 0.2, "nan": float("nan"), "n": 12345678901, "neg": -3, "big": 2**80, "flag": True,
        "np_float": np.float64(1 / 3), "np_int": np.int64(-7),
        "rng": json.dumps(np.random.default_rng(5).bit_generator.state), "long": "x" * 100_000,
    }
    with h5py.File(tmp_path / "s.h5", "w") as f:
        io.write_state(f.create_group("s"), state)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        back = io.read_state(f["s"])
    assert back.keys() == state.keys()
    for k, v in state.items():
        w = back[k]
        if isinstance(v, np.ndarray):
            assert isinstance(w, np.ndarray) and w.dtype == v.dtype and w.shape == v.shape
            assert w.tobytes() == v.tobytes()
        elif isinstance(v, float):
            assert type(w) is float and np.float64(w).tobytes() == np.float64(v).tobytes()
        else:
            assert type(w) is type(v.item() if isinstance(v, np.generic) else v) and w == v


@pytest.mark.parametrize("bad", [{"x": [1, 2]}, {"x": None}, {"a/b": 1}, {"x": np.array(["s"])},
                                 {"x": np.array([object()])}])
def test_state_rejects_unsupported_entries(tmp_path, bad):
    with h5py.File(tmp_path / "s.h5", "w") as f, pytest.raises(TypeError):
        io.write_state(f.create_group("s"), bad)


# ------------------------------------------------------------------------------------------- writing
def test_create_and_read_back(tmp_path):
    p = tmp_path / "o.h5"
    make_output(p, runs=[("a", "toy", "toy", {"n": 3, "xs": [1, 2], "name": "q"}), ("b", "network", "network", {})])
    with h5py.File(p, "r") as f:  # plain h5py
        assert f.attrs["format"] == "wgf-output" and f.attrs["format_version"] == 1
        assert f.attrs["config"] == 'title = "t"\n' and json.loads(f.attrs["runs"]) == ["a", "b"]
        assert f["a"].attrs["solver"] == "toy" and not f["a"].attrs["completed"]
        assert f["a"].attrs["n"] == 3 and json.loads(f["a"].attrs["params"])["xs"] == [1, 2]
        assert np.array_equal(f["data/model/teacher"][()], np.arange(6.0).reshape(2, 3))
    commit_run(p, snapshots=2)
    with OutputReader(p) as r:
        r.check()
        assert r.runs == ["a", "b"] and r.data()["model.teacher"].shape == (2, 3)
        assert r.series("a")["time"].tolist() == [0, 0.5, 1] and r.series("b") == {}
        assert [s[1:] for s in r.snapshot_list("a")] == [(0.0, 0), (0.5, 1)]
        assert np.array_equal(r.snapshot("a")["masses"], np.ones(4))
        attrs, state = r.checkpoint("a")
        assert attrs["next_stop"] == 3 and np.array_equal(state["x"], np.zeros(3))
        assert r.checkpoint("b") is None and r.run_attrs("a")["started"] is True


def test_commit_does_not_grow_the_file(tmp_path):
    p = tmp_path / "o.h5"
    make_output(p)
    sizes = []
    for _ in range(8):
        commit_run(p, n=200, state={"x": np.zeros(20_000)})
        sizes.append(p.stat().st_size)
    assert max(sizes[2:]) == min(sizes[2:]), sizes  # rewritten datasets do not pile up


def test_failed_commit_leaves_the_file_untouched(tmp_path, monkeypatch):
    p = tmp_path / "o.h5"
    make_output(p)
    commit_run(p)
    before = p.read_bytes()

    class Boom(Exception):
        pass

    for stage in ("_apply", "_fsync_file", "replace"):
        def boom(*a, **k):
            raise Boom(stage)
        with monkeypatch.context() as m:
            if stage == "replace":
                m.setattr(io.os, "replace", boom)
            else:
                m.setattr(io, stage, boom)
            with pytest.raises(Boom):
                commit_run(p, n=5)
        assert p.read_bytes() == before
        assert sorted(os.listdir(tmp_path)) == ["o.h5"]  # no temporary file left
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C in the middle of a write
        with monkeypatch.context() as m:
            m.setattr(io, "_apply", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
            commit_run(p, n=5)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["o.h5"]


def test_stale_temporary_files_are_removed(tmp_path):
    p = tmp_path / "o.h5"
    dead = tmp_path / ".o.h5.999999999.0.tmp"  # no such pid
    mine = tmp_path / f".o.h5.{os.getpid()}.0.tmp"
    other = tmp_path / ".other.h5.999999999.0.tmp"
    for f in (dead, mine, other):
        f.write_bytes(b"x")
    assert io.remove_stale_tmp(p) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()


# ------------------------------------------------------------------------------------------- paths
def test_check_output_path(tmp_path):
    p = tmp_path / "o.h5"
    assert io.check_output_path(p) == p and os.listdir(tmp_path) == []
    with pytest.raises(OutputFileError, match="the folder .* does not exist"):
        io.check_output_path(tmp_path / "missing" / "o.h5")
    with pytest.raises(OutputFileError, match="it is a folder"):
        io.check_output_path(tmp_path)
    p.write_bytes(b"old")
    with pytest.raises(OutputFileError, match="already exists; use --force to overwrite it or -o"):
        io.check_output_path(p)
    assert io.check_output_path(p, force=True) == p and p.read_bytes() == b"old"
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputFileError, match="is not a folder"):
        io.check_output_path(tmp_path / "f" / "o.h5")


def test_unwritable_folder_simulated(tmp_path, monkeypatch):
    def refuse(path, mode="r", *a, **k):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(io, "open", refuse, raising=False)  # what open() does in a read-only folder
    with pytest.raises(OutputFileError, match="cannot write in .*: Permission denied"):
        io.check_output_path(tmp_path / "o.h5")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(OutputFileError, match="cannot write in .*[Pp]ermission denied"):
            io.check_output_path(d / "o.h5")
    finally:
        d.chmod(0o700)


# ------------------------------------------------------------------------------------------- reading
def test_reader_rejects_bad_files(tmp_path):
    good = tmp_path / "good.h5"
    make_output(good)
    commit_run(good)
    with pytest.raises(OutputFileError, match="no such file"):
        OutputReader(tmp_path / "none.h5")
    with pytest.raises(OutputFileError, match="not a file"):
        OutputReader(tmp_path)
    (tmp_path / "text.h5").write_text("hello, not HDF5\n" * 10)
    with pytest.raises(OutputFileError, match="not a readable HDF5 file"):
        OutputReader(tmp_path / "text.h5")
    data = good.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(OutputFileError, match="not a readable HDF5 file|corrupt"):
        OutputReader(tmp_path / "trunc.h5").check()
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(OutputFileError, match="not a wgf output file"):
        OutputReader(tmp_path / "foreign.h5")
    shutil.copy(good, tmp_path / "newer.h5")
    with h5py.File(tmp_path / "newer.h5", "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(OutputFileError, match="format version 99"):
        OutputReader(tmp_path / "newer.h5")
    for name, damage, msg in [
        ("nogroup.h5", lambda f: f.__delitem__("a"), "the group of run 'a' is missing"),
        ("noseries.h5", lambda f: f["a"].__delitem__("energy"), None),
        ("short.h5", lambda f: (f["a"].__delitem__("time"), f["a"].create_dataset("time", data=[0.0])),
         "do not have the 3 records"),
        ("nockpt.h5", lambda f: f["a"].__delitem__("checkpoint"), "started but has no checkpoint"),
        ("nosnap.h5", lambda f: f["a/snapshots"].__delitem__("000000"), "does not have the 1 snapshots"),
        ("badkind.h5", lambda f: f["a/checkpoint/state/x"].attrs.__setitem__("kind", "weird"), "unknown kind"),
        ("noattr.h5", lambda f: f["a/checkpoint"].attrs.__delitem__("next_stop"), "lacks attribute 'next_stop'"),
        ("runs.h5", lambda f: f.attrs.__setitem__("runs", "not json"), "corrupt"),
    ]:
        shutil.copy(good, tmp_path / name)
        with h5py.File(tmp_path / name, "r+") as f:
            damage(f)
        if msg is None:  # a missing diagnostic series is legal (not every solver records every scalar)
            with OutputReader(tmp_path / name) as r:
                r.check()
            continue
        with pytest.raises(OutputFileError, match=msg):
            with OutputReader(tmp_path / name) as r:
                r.check()


def test_random_corruption_never_escapes_as_another_error(tmp_path):
    """Flipping bytes anywhere gives either a readable file or an OutputFileError, never another
    exception (h5py's own errors are translated)."""
    good = tmp_path / "good.h5"
    make_output(good)
    commit_run(good, snapshots=3)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(40):
        bad = bytearray(data)
        pos = rng.integers(0, len(bad), size=8)
        bad[pos[0]:pos[0] + 1] = bytes([rng.integers(0, 256)])
        for p in pos[1:]:
            bad[p] ^= 0xFF
        f = tmp_path / f"bad{trial}.h5"
        f.write_bytes(bytes(bad))
        try:
            with OutputReader(f) as r:
                r.check()
                for run in r.runs:
                    r.series(run), r.snapshot_list(run), r.checkpoint(run), r.data(), r.static(run)
        except OutputFileError:
            pass
