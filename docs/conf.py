"""Sphinx configuration of the wgf documentation.

Build (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The gallery (``examples/``) is run by sphinx-gallery at its small size; set ``WGF_GALLERY_SIZE=full``
to run the bundled cases at their published sizes instead (long).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout's wgf, not another installed copy
sys.path.insert(0, str(DOCS / "_ext"))

import wgf  # noqa: E402

# The gallery's examples read this switch (small: a few seconds each; full: the bundled cases as published).
os.environ.setdefault("WGF_GALLERY_SIZE", "small")
os.environ.setdefault("MPLBACKEND", "Agg")

project = "wgf"
author = "the wgf authors"
copyright = "the wgf authors, BSD-3-Clause"
release = version = wgf.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "myst_parser",
    "wgf_docs",  # docs/_ext/wgf_docs.py: the case-file schema and the API lists, generated from the code
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "api/public.rst", "**.ipynb_checkpoints", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
templates_path = ["_templates"]

# Broken cross-references fail the build (-W). The exceptions, each for a reason:
nitpicky = True
nitpick_ignore = [
    # numpydoc type words that are prose, not objects
    ("py:class", "optional"),
    ("py:class", "array_like"),
    ("py:class", "callable"),
    ("py:class", "path-like"),
]
nitpick_ignore_regex = [
    # the private helper modules (wgf._validate, wgf._parallel) are not part of the documented API
    ("py:(class|obj|func|meth|data|attr|mod)", r"wgf\._(validate|parallel)(\..*)?"),
    # third-party and standard-library types named in signatures and docstrings: no intersphinx (the build
    # must work offline), so these are not links
    ("py:(class|obj|exc|func|meth|data|attr|mod)", r"(numpy|np|scipy|h5py|matplotlib|pathlib|typing|collections|"
     r"concurrent|threading|dask|distributed|ot|numba|os|io|enum|dataclasses|datetime|abc)(\..*)?"),
    ("py:(class|obj|exc)", r"(Path|Any|Callable|Iterable|Iterator|Mapping|Sequence|TextIO|Optional|Union|"
     r"Generator|Self|ndarray|Figure|Axes|RLock|ThreadPoolExecutor|Future|Client|ValueError|TypeError|"
     r"KeyError|RuntimeError|OSError|FileNotFoundError|Warning|UserWarning|Exception|KeyboardInterrupt|"
     r"FloatingPointError|int|float|str|bool|dict|list|tuple|bytes|None|object|type|complex|slice)"),
    # return annotations of properties, shown as written (postponed annotations: strings autodoc cannot parse)
    ("py:class", r"'.*"),
]

# autodoc / autosummary / numpydoc
autosummary_generate = ["api/public.rst", "api/modules.rst"]  # written by wgf_docs from the code
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc Parameters sections give the types (and the shapes)

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# MyST (benchmarks/README.md is included as a page, not copied)
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"wgf {version}"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}
html_static_path: list[str] = []

# sphinx-gallery: every figure of the gallery comes from running the example at build time
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}
