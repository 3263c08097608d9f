"""The built distribution: a wheel (built from the sdist, as ``python -m build`` does) installed in a fresh
virtual environment outside the checkout carries the bundled cases and their data, so that ``wgf cases``
lists them and ``wgf run teacher_student`` runs the default case by name, from the installed files alone.

The fresh virtual environment reuses wgf's dependencies (numpy, scipy, numba, ...) from the environment
running the tests instead of downloading them again: like ``--system-site-packages``, but pointing at the
site-packages folders of the running environment (a ``.pth`` file), which need not be the system's (CI runs
in a venv). wgf itself is installed into it from the wheel (``--no-deps``), and the test checks that the
``wgf`` it runs is that copy, not the checkout's. Building needs the build backend (setuptools >= 77,
fetched by pip's build isolation)."""

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import h5py
import pytest

import wgf

ROOT = Path(wgf.__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env=None, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"
    return p


def _clean_env(venv_dir: Path) -> dict[str, str]:
    """The environment of a shell that activated the venv: nothing that points Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WGF_PLUGINS", "PYTHONHOME")}
    env["PATH"] = str(venv_dir / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv_dir)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv_dir, work_dir, wheel)``: wgf built and installed from its wheel into a fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.skip("the 'build' package (the test extra) is needed to build the sdist and the wheel")
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=tmp)
    wheels, sdists = sorted(dist.glob("wgf-*.whl")), sorted(dist.glob("wgf-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    venv_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    py = venv_dir / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp,
                   env=_clean_env(venv_dir)).stdout.strip()
    deps = [p for p in sys.path if p.rstrip("/").endswith("site-packages")]
    (Path(purelib) / "_test_environment.pth").write_text("".join(f"{p}\n" for p in deps))
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheels[0])], cwd=tmp,
         env=_clean_env(venv_dir))
    work = tmp / "work"
    work.mkdir()
    return venv_dir, work, wheels[0]


def test_wheel_holds_every_bundled_case_and_its_data(installed):
    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for case in sorted((ROOT / "solvers").glob("*.toml")):
        assert f"wgf/_bundled/solvers/{case.name}" in names
        # every data file a bundled case names (relative to the case file) is in the wheel beside it
        model = tomllib.loads(case.read_text("utf-8"))["model"]
        for value in model.values():
            if isinstance(value, str) and value.startswith("../data/"):
                assert f"wgf/_bundled/data/{value.removeprefix('../data/')}" in names, (case.name, value)
    assert "wgf/_bundled/solvers/README.md" in names


def test_installed_wgf_lists_and_runs_the_bundled_cases(installed):
    venv_dir, work, _ = installed
    env = _clean_env(venv_dir)
    py = str(venv_dir / "bin" / "python")
    where = _run([py, "-c", "import wgf; print(wgf.__file__)"], cwd=work, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv_dir.resolve()), where  # the wheel's copy, not the checkout
    wgf_cmd = str(venv_dir / "bin" / "wgf")
    version = _run([wgf_cmd, "--version"], cwd=work, env=env).stdout.strip()
    assert version == f"wgf {wgf.__version__}"

    listed = _run([wgf_cmd, "cases"], cwd=work, env=env).stdout.splitlines()
    assert [line.split()[0] for line in listed] == sorted(p.stem for p in (ROOT / "solvers").glob("*.toml"))

    # the default case by name: its teacher comes from the installed data folder
    _run([wgf_cmd, "run", "teacher_student", "--quiet"], cwd=work, env=env)
    with h5py.File(work / "teacher_student.h5") as f:
        assert f.attrs["status"] == "completed"
        assert f.attrs["config"] == (ROOT / "solvers" / "teacher_student.toml").read_text("utf-8")
        runs = [r for r in f if r != "data"]
        assert {"eulerian", "lagrangian"} <= set(runs) and all(f[r].attrs["completed"] for r in runs)
    table = _run([wgf_cmd, "report", "teacher_student.h5", "--no-figures"], cwd=work, env=env).stdout
    assert "lagrangian" in table and "(reference)" in table
