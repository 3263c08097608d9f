"""Sphinx extension of the wgf docs: pages generated from the code, never written twice.

``.. wgf-case-schema::``
    The case-file schema as tables, one per section: the keys that the case parser itself accepts (found by
    giving :func:`wgf.app.cases.parse_case` a small valid case with one unknown key per section and reading
    its "allowed keys" message, so the list is the validator's own), each with its default and its
    description, taken from the annotated schema in the docstring of :mod:`wgf.app.cases` or, for keys that
    are passed on to a model or solver constructor, from that constructor's numpydoc ``Parameters``. A key
    that the parser accepts but that neither place documents (or that the schema lists without a comment)
    is a build warning (an error under ``-W``).

``api/public.rst`` (included by ``api/index.rst``) and the page ``api/modules.rst``, written when the
configuration is read
    The autosummary tables of the public namespace, from ``wgf.__all__`` and ``wgf.models.__all__``, and
    of every module of the five layers (:data:`LAYERS`), found by walking the packages.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: A key that no section has: the parser's message for it lists the keys the section allows.
PROBE = "zz_not_a_key"

#: A small valid case on S^2 (teacher-student, one grid run), and the model sections of every bundled type.
_TIME = "[time]\nfinal = 1.0\n"
MODEL_SECTIONS = {
    "teacher_student": '[model]\ntype = "teacher_student"\nteacher = [[1.0, 0.6, 0.8]]\n',
    "empirical_relu": '[model]\ntype = "empirical_relu"\nX = [[0.0, 1.0], [1.0, 0.0]]\ny = [0.0, 1.0]\n',
    "spike_deconvolution": ('[model]\ntype = "spike_deconvolution"\npositions = [[1.0, 0.0]]\nweights = [1.0]\n'
                            'degree = 2\nweight_decay = 0.1\n'),
}
SOLVER_SECTIONS = {
    "eulerian": "[eulerian]\nlevel = 0\n",
    "lagrangian": "[lagrangian]\nlevel = 0\n",
    "network": "[network]\nwidths = [2]\nstep_size = 0.1\n",
}
OTHER_SECTIONS = {
    "initial": "[initial]\n",
    "flow": "[flow]\n",
    "compare": "[compare]\n",
    "diagnostics": "[diagnostics]\n",
}


def _cases():
    from wgf.app import cases
    return cases


def _solver_classes() -> dict:
    """The constructor each solver section passes its remaining keys to (see the cases module)."""
    import wgf
    return {"eulerian": wgf.EulerianSolver, "lagrangian": wgf.LagrangianSolver, "network": wgf.NetworkTrainer}


def _allowed(text: str) -> list[str]:
    """The keys of the section holding :data:`PROBE`, from the parser's error message."""
    cases = _cases()
    try:
        cases.parse_case(text, name="probe")
    except cases.CaseError as exc:
        m = re.search(r"allowed(?: keys)?: (.*)$", str(exc))
        if m is None:
            raise RuntimeError(f"the probe case was rejected for another reason: {exc}") from None
        return [k.strip() for k in m.group(1).split(",") if k.strip() != PROBE]
    raise RuntimeError("the case parser accepted an unknown key")


def _with_probe(section_text: str) -> str:
    head, _, rest = section_text.partition("\n")
    return f"{head}\n{PROBE} = 1\n{rest}"


def _case(model_type: str = "teacher_student", **sections: str) -> str:
    """A valid case of the given model type, with some sections replaced (e.g. one holding the probe)."""
    grid_run = SOLVER_SECTIONS["eulerian"] if model_type == "teacher_student" else '[lagrangian]\nquadrature = "random"\nn = 4\n'
    parts = {"model": MODEL_SECTIONS[model_type], "time": _TIME, "run": grid_run}
    parts.update(sections)
    return "".join(parts.values())


def docstring_schema() -> dict[str, dict[str, tuple[str, str]]]:
    """``section -> key -> (example value, comment)`` from the annotated schema of the cases module's
    docstring (the top level is section ``""``)."""
    doc = inspect.getdoc(_cases()) or ""
    out: dict[str, dict[str, tuple[str, str]]] = {"": {}}
    section, last = "", None
    for line in doc.splitlines():
        s = line.strip()
        m = re.match(r"^\[\[?([a-z_]+)\]\]?", s)
        if m and line.startswith("    ["):
            section, last = m.group(1), None
            out.setdefault(section, {})
            continue
        m = re.match(r"^    (?:# )?([A-Za-z_]+) = ([^#]*?)\s*(?:#\s?(.*))?$", line)
        if m and not line.startswith("     " * 2 + " "):
            key, value, comment = m.group(1), m.group(2).strip(), (m.group(3) or "").strip()
            if key not in out[section]:
                out[section][key] = (value, comment)
                last = key
            continue
        m = re.match(r"^\s{20,}#\s?(.*)$", line)  # a continued comment
        if m and last is not None:
            value, comment = out[section][last]
            out[section][last] = (value, (comment + " " + m.group(1).strip()).strip())
            continue
        if s and not s.startswith("#"):
            last = None
        if not line.startswith("    ") and s:
            section = section if s.startswith("[") else section
    return out


def _parameter_docs(target) -> dict[str, tuple[str, str]]:
    """``name -> (type, description)`` of a class's or function's numpydoc Parameters."""
    from numpydoc.docscrape import ClassDoc, FunctionDoc

    doc = ClassDoc(target, config={"show_class_members": False}) if inspect.isclass(target) else FunctionDoc(target)
    out = {}
    for p in doc["Parameters"]:
        for name in p.name.split(","):
            out[name.strip()] = (p.type, " ".join(p.desc).strip())
    return out


def _default(target, key: str) -> str:
    try:
        p = inspect.signature(target).parameters.get(key)
    except (TypeError, ValueError):
        return ""
    if p is None:
        return ""
    return "(required)" if p.default is inspect.Parameter.empty else repr(p.default)


def schema_tables() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """``(heading, intro, rows)`` per section, rows ``(key, default or example, description)``."""
    cases = _cases()
    schema = docstring_schema()

    def rows_for(section: str, keys: list[str], target=None):
        params = _parameter_docs(target) if target is not None else {}
        documented = schema.get(section, {})
        rows = []
        for key in keys:
            if key in params:  # passed on to the constructor: its own default and description
                rows.append((key, _default(target, key), params[key][1]))
            elif key in documented:
                value, comment = documented[key]
                if not comment:
                    logger.warning(f"wgf-case-schema: [{section}] key '{key}' has no comment in the schema of the "
                                   "cases module's docstring")
                rows.append((key, value, comment))
            else:
                logger.warning(f"wgf-case-schema: [{section}] key '{key}' is accepted by the case parser but "
                               "documented neither in the schema of the cases module's docstring nor in "
                               f"{getattr(target, '__name__', 'a constructor')}'s Parameters")
                rows.append((key, "", ""))
        return rows

    top = _allowed(f"{PROBE} = 1\n" + _case())
    tables = [("Top level", "Top-level keys; the other names are the sections below.",
               rows_for("", [k for k in top if k in schema[""]]))]
    for mtype in cases.MODEL_TYPES:
        cls = cases.MODEL_TYPES[mtype].load()
        if not cls.__module__.startswith("wgf.") and mtype not in MODEL_SECTIONS:
            continue  # a plugin's model type (registered in this process), not part of wgf's schema
        keys = _allowed(_case(mtype, model=_with_probe(MODEL_SECTIONS[mtype])))
        type_row = ("type", f'"{mtype}"', schema["model"]["type"][1])
        tables.append((f'[model] type = "{mtype}"',
                       f"The case's keys and the keyword parameters of :class:`{cls.__module__}.{cls.__qualname__}`.",
                       [type_row] + rows_for("model", keys, cls)))
    tables.append(("[time]", "", rows_for("time", _allowed(_case(time=_with_probe(_TIME))))))
    for section, text in OTHER_SECTIONS.items():
        tables.append((f"[{section}]", "", rows_for(section, _allowed(_case(**{section: _with_probe(text)})))))
    for section, text in SOLVER_SECTIONS.items():
        cls = _solver_classes()[section]
        keys = _allowed(_case(**{"run": _with_probe(text)}))
        tables.append((f"[{section}] (or [[{section}]])",
                       f"The case's keys and the keyword parameters of :class:`{cls.__module__}.{cls.__qualname__}`.",
                       rows_for(section, keys, cls)))
    return tables


class CaseSchemaDirective(SphinxDirective):
    """Render :func:`schema_tables` as reStructuredText tables."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for heading, intro, rows in schema_tables():
            lines += [f".. rubric:: {heading}", ""]
            if intro:
                lines += [intro, ""]
            lines += [".. list-table::", "   :header-rows: 1", "   :widths: 18 18 64", "",
                      "   * - key", "     - default (or example)", "     - meaning"]
            for key, default, desc in rows:
                lines += [f"   * - ``{key}``", f"     - {_literal(default)}", f"     - {_escape(desc)}"]
            lines.append("")
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source="wgf-case-schema"), self.content_offset, node)
        return node.children


def _literal(text: str) -> str:
    return f"``{text}``" if text else ""


def _escape(text: str) -> str:
    """Descriptions are plain text from the code: keep ``code`` and math roles, escape the rest."""
    return text.replace("*", r"\*").replace("|", r"\|") if "``" not in text and ":" not in text else text


# ------------------------------------------------------------------------------------------------ API lists
def write_public_api(app, config=None) -> None:
    """Write ``api/public.rst``: autosummary tables of ``wgf.__all__`` (classes, functions, modules)."""
    import wgf
    import wgf.models

    def kind(obj) -> str:
        if inspect.ismodule(obj):
            return "modules"  # listed with every module, below
        if inspect.isclass(obj):
            return "exceptions" if issubclass(obj, BaseException) else "classes"
        return "functions"

    groups: dict[str, list[str]] = {"classes": [], "functions": [], "exceptions": [], "modules": []}
    for name in wgf.__all__:
        if name.startswith("__"):
            continue
        groups[kind(getattr(wgf, name))].append(name)
    lines = [".. This file is written by docs/_ext/wgf_docs.py from wgf.__all__: do not edit.", "",
             ".. currentmodule:: wgf", ""]
    titles = {"classes": "Classes", "functions": "Functions", "exceptions": "Exceptions and warnings",
              "modules": "Modules"}
    for g in ("classes", "functions", "exceptions"):
        if not groups[g]:
            continue
        lines += [titles[g], "-" * len(titles[g]), "", ".. autosummary::", "   :toctree: generated",
                  "   :nosignatures:", ""] + [f"   {n}" for n in groups[g]] + [""]
    extra = [n for n in wgf.models.__all__ if not hasattr(wgf, n)]
    if extra:
        lines += ["Also in wgf.models", "------------------", "", ".. autosummary::", "   :toctree: generated",
                  "   :nosignatures:", ""] + [f"   models.{n}" for n in extra] + [""]
    _write(Path(app.srcdir) / "api" / "public.rst", lines)
    # every module, layer by layer: the pages that the docstrings' cross-references point to
    lines = [".. This file is written by docs/_ext/wgf_docs.py: do not edit.", "", "Modules", "=======", "",
             "The subpackages, one per layer (:doc:`../layout`), and every module in them with its documented",
             "members (the public names of :doc:`index` are defined in these modules).", "",
             ".. autosummary::", "   :toctree: generated", "   :recursive:", ""]
    lines += [f"   wgf.{layer}" for layer in LAYERS] + [""]
    _write(Path(app.srcdir) / "api" / "modules.rst", lines)


def _write(target: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    if not target.exists() or target.read_text() != text:  # unchanged: keep the timestamp (no rebuild)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


# ------------------------------------------------------------------------------------------------ layout
#: The layers of the package, lowest first.
LAYERS = ("geometry", "models", "discretisations", "analysis", "app")


def layout_rows() -> list[tuple[str, str]]:
    """``(module, first line of its docstring)`` for every module of every layer, lowest layer first."""
    import importlib
    import pkgutil
    import warnings

    rows = []
    for layer in LAYERS:
        pkg = importlib.import_module(f"wgf.{layer}")
        rows.append((pkg.__name__, _first_line(pkg)))
        for info in sorted(pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."), key=lambda i: i.name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                mod = importlib.import_module(info.name)
            rows.append((info.name, _first_line(mod)))
    return rows


def _first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


class LayoutDirective(SphinxDirective):
    """A table of the package's modules and the first paragraph of their docstrings."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 32 68", "", "   * - module", "     - summary"]
        for name, summary in layout_rows():
            lines += [f"   * - :mod:`{name}`", f"     - {summary}"]
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source="wgf-layout"), self.content_offset, node)
        return node.children


# ------------------------------------------------------------------------------------------------ numba
def _dispatcher_documenter():
    """An autodoc documenter for Numba-compiled functions (``@njit``), documented as the Python function
    they compile (its signature and docstring), so that the kernel layer's pages list them."""
    from numba.core.dispatcher import Dispatcher
    from sphinx.ext.autodoc import FunctionDocumenter

    class NumbaFunctionDocumenter(FunctionDocumenter):
        objtype = "numbafunction"
        directivetype = "function"
        priority = FunctionDocumenter.priority + 1

        @classmethod
        def can_document_member(cls, member, membername, isattr, parent) -> bool:
            return isinstance(member, Dispatcher) and hasattr(member, "py_func")

        def import_object(self, raiseerror: bool = False) -> bool:
            ok = super().import_object(raiseerror)
            if ok and isinstance(self.object, Dispatcher):
                self.object = self.object.py_func
            return ok

    return NumbaFunctionDocumenter


# ------------------------------------------------------------------------------------------------ aliases
def _import_dotted(name: str):
    """The object a dotted name refers to (the longest importable module prefix, then attributes), or None."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:  # noqa: BLE001 - a module failing to import is not a reference to resolve
            return None
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(name: str) -> str | None:
    """Where the object ``name`` refers to is defined (``module.qualname``), for classes, functions and
    their members; None for anything else."""
    head, _, attr = name.rpartition(".")
    obj = _import_dotted(name)
    if obj is None:
        return None
    obj = getattr(obj, "py_func", obj)  # a Numba dispatcher: the Python function it compiles
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and (inspect.isclass(obj) or inspect.isroutine(obj)):
        return f"{module}.{qualname}"
    owner = _import_dotted(head) if head else None  # an attribute or property of a class
    if owner is not None and inspect.isclass(owner) and attr:
        base = _canonical(head)
        return f"{base}.{attr}" if base else None
    return None


def resolve_alias(app, env, node, contnode):
    """Resolve a Python cross-reference that names a documented object by another importable path.

    The public names are re-exported (``wgf.models.TeacherStudent`` is
    ``wgf.models.teacher_student.TeacherStudent``) and docstrings name objects through the namespace they
    are written in (``Model.energy`` in a module that imports ``Model``). A reference that Sphinx did not
    find is looked up as Python would (the name itself, then within the reference's class and module) and,
    if it is an object documented under its defining module, linked there; failing that, a short name that
    only one object of wgf (under all its documented names) ends with is that object. Anything else stays
    unresolved (a warning, an error under ``-W``)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module and cls:
        candidates.append(f"{module}.{cls}.{target}")
    if module:
        candidates.append(f"{module}.{target}")
    domain = env.get_domain("py")
    for candidate in candidates:
        canonical = _canonical(candidate)
        if canonical is None or canonical == node["reftarget"]:
            continue
        for reftype in (node["reftype"], "obj"):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, reftype, canonical, node, contnode)
            if found is not None:
                return found
    # A module's first docstring line shown elsewhere (the tables of modules) loses its module: a name that
    # ends exactly one documented object of the package (wgf...), or one defining module, is that object.
    if target.startswith("wgf.") or not target.replace(".", "").replace("_", "").isalnum():
        return None
    matches = sorted(name for name in domain.objects if name.startswith("wgf.") and name.endswith("." + target))
    defining = {_canonical(name) or name for name in matches}
    if len(defining) == 1:
        (name,) = defining
        best = name if name in domain.objects else matches[0]
        return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", best, node, contnode)
    return None


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("missing-reference", resolve_alias)
    app.add_autodocumenter(_dispatcher_documenter())
    app.add_directive("wgf-case-schema", CaseSchemaDirective)
    app.add_directive("wgf-layout", LayoutDirective)
    # written when the configuration is read: before the sources are listed and autosummary scans them
    app.connect("config-inited", write_public_api)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
