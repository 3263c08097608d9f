"""The documentation's generated case-file schema (docs/_ext/wgf_docs.py, run by the Sphinx build): the key
lists it gets by probing the case parser contain every key that the bundled cases use, section by section,
and every key has a description. Needs the docs extra (numpydoc); skipped without it."""

import sys
import tomllib
from pathlib import Path

import pytest

import wgf

ROOT = Path(wgf.__file__).resolve().parent.parent
pytest.importorskip("numpydoc")
pytest.importorskip("sphinx")
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import wgf_docs  # noqa: E402


@pytest.fixture(scope="module")
def tables():
    out = {}
    for heading, _, rows in wgf_docs.schema_tables():
        out[heading] = {key: (default, desc) for key, default, desc in rows}
    return out


def _section(tables, section, model_type):
    if section == "model":
        return tables[f'[model] type = "{model_type}"']
    for heading, rows in tables.items():
        if heading.split(" ")[0] == f"[{section}]":
            return rows
    raise KeyError(section)


def test_every_key_of_the_bundled_cases_is_in_the_generated_schema(tables):
    checked = 0
    for path in sorted((ROOT / "solvers").glob("*.toml")):
        raw = tomllib.loads(path.read_text("utf-8"))
        for section, value in raw.items():
            if not isinstance(value, (dict, list)):
                assert section in tables["Top level"], (path.name, section)
                continue
            rows = _section(tables, section, raw["model"]["type"])
            for table in value if isinstance(value, list) else [value]:
                for key in table:
                    assert key in rows, (path.name, section, key)
                    checked += 1
    assert checked > 100


def test_every_generated_key_has_a_description(tables):
    for heading, rows in tables.items():
        for key, (_, desc) in rows.items():
            assert desc.strip(), (heading, key)


def test_the_probe_reads_the_parsers_own_list():
    allowed = wgf_docs._allowed(wgf_docs._case(time=wgf_docs._with_probe(wgf_docs._TIME)))
    assert "final" in allowed and "records" in allowed and wgf_docs.PROBE not in allowed
