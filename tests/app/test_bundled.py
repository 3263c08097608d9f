"""Where the bundled cases are found: the checkout's solvers/ folder, or, for an installed package (no
pyproject.toml beside it), the copies installed as wgf/_bundled/solvers with their data in
wgf/_bundled/data (the layout the wheel has; tests/app/test_wheel.py builds and installs the real one)."""

import shutil
import subprocess
import sys
from pathlib import Path

import wgf
from wgf.app import cases

ROOT = Path(wgf.__file__).resolve().parent.parent


def test_checkout_cases_are_the_solvers_folder():
    assert cases.bundled_cases_dir() == ROOT / "solvers"
    assert [name for name, _, _ in cases.bundled_cases()] == sorted(p.stem for p in (ROOT / "solvers").glob("*.toml"))


def test_installed_layout_finds_the_packaged_cases_and_their_data(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(ROOT / "wgf", site / "wgf", ignore=shutil.ignore_patterns("__pycache__", "_bundled"))
    shutil.copytree(ROOT / "solvers", site / "wgf" / "_bundled" / "solvers", ignore=shutil.ignore_patterns("figures"))
    shutil.copytree(ROOT / "data", site / "wgf" / "_bundled" / "data")
    code = ("import wgf\n"
            "from wgf.app.cases import bundled_cases, bundled_cases_dir, load_case\n"
            "print(wgf.__file__)\n"
            "print(bundled_cases_dir())\n"
            "print(','.join(n for n, _, _ in bundled_cases()))\n"
            "case = load_case(bundled_cases_dir() / 'teacher_student.toml')\n"
            "print(case.model.dim, sorted(case.data))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    where, folder, names, loaded = p.stdout.strip().splitlines()
    assert Path(where).resolve() == (site / "wgf" / "__init__.py").resolve()  # the copy, not the checkout
    assert Path(folder).resolve() == (site / "wgf" / "_bundled" / "solvers").resolve()
    assert names.split(",") == sorted(p.stem for p in (ROOT / "solvers").glob("*.toml"))
    assert loaded == "2 ['model.teacher']"  # the teacher file found at ../data relative to the case


def test_every_bundled_case_has_a_gallery_example():
    # the documentation's gallery runs one script per bundled case (examples/plot_case_<name>.py)
    for case in sorted((ROOT / "solvers").glob("*.toml")):
        example = ROOT / "examples" / f"plot_case_{case.stem}.py"
        assert example.is_file(), f"no gallery example for the bundled case {case.stem}"
        assert f'"{case.stem}.toml"' in example.read_text("utf-8")
