"""Regenerate docs/api.rst from the ``__all__`` of each public subpackage.

The Sphinx build (docs/conf.py) runs this before reading the sources, so the page always lists
every public class and function; ``python docs/make_api.py`` refreshes the committed copy.
"""

import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # document the checkout this file belongs to
    sys.path.insert(0, str(ROOT))

SECTIONS = [
    ("skface", "The estimator", "Top-level names that live in no subpackage."),
    ("skface.datasets", "Data sets", "Scanning folders, fetching, duplicates, splits, audits, "
     "manifests and the offline demo set."),
    ("skface.preprocessing", "Preprocessing", "From image files to arrays: loading, format "
     "normalisation, augmentation, spectra."),
    ("skface.metrics", "Metrics", "Evaluating a real-vs-fake classifier."),
    ("skface.experiments", "Experiments", "Ablations, cross-source tests, plots, explanations "
     "and reports."),
    ("skface.nn", "Network building blocks", "Pure PyTorch modules used by FaceCNNClassifier."),
    ("skface.utils", "Utilities", "Validation, seeding and memory helpers."),
]


def documented_names(module_name):
    """Public classes and functions of a module (constants are left out)."""
    mod = importlib.import_module(module_name)  # an import error must stop the build
    names = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if module_name == "skface" and not obj.__module__.startswith("skface._"):
                continue  # re-exported from a subpackage: documented there
            names.append((name, "class" if inspect.isclass(obj) else "function"))
    return sorted(names, key=lambda t: (t[1] != "class", t[0].lower()))


def _doc_comment(module, name):
    """The ``#:`` comment lines right above the module-level assignment of ``name`` in
    ``module``'s source (as Sphinx reads them), without the ``#:``; [] when there are none."""
    import ast

    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    lines = source.splitlines()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            comment, row = [], node.lineno - 2
            while row >= 0 and lines[row].lstrip().startswith("#:"):
                comment.insert(0, lines[row].lstrip()[2:].strip())
                row -= 1
            return [line for line in comment if line]
    return []


def documented_constants(module_name):
    """Public constants of a module (upper-case names in ``__all__``) as ``(name, value,
    comment)``: the ``#:`` comment above the name where its private module defines it (autodoc
    looks in the public module, finds none and shows the docstring of ``int`` or ``tuple``)."""
    mod = importlib.import_module(module_name)
    names = [name for name in getattr(mod, "__all__", [])
             if name.isupper() and not (inspect.isclass(getattr(mod, name))
                                        or inspect.isfunction(getattr(mod, name)))]
    out = []
    for name in names:
        comment = []
        for owner in sorted(m for m in sys.modules if m.startswith(module_name + "._")):
            comment = _doc_comment(sys.modules[owner], name)
            if comment:
                break
        if not comment:
            raise RuntimeError(f"{module_name}.{name} has no #: comment where it is defined")
        out.append((name, getattr(mod, name), comment))
    return out


def render():
    lines = ["API reference", "=============", "",
             "Every public name is importable from its subpackage; the main ones also from",
             "``skface`` itself.", ""]
    for module_name, title, blurb in SECTIONS:
        names = documented_names(module_name)
        if not names:
            continue
        lines += [f"``{module_name}``: {title}", "-" * (len(module_name) + len(title) + 6), "",
                  blurb, "", f".. currentmodule:: {module_name}", ""]
        for kind in ("class", "function"):
            group = [n for n, k in names if k == kind]
            if group:
                lines += [".. autosummary::", "   :toctree: generated/",
                          f"   :template: {kind}.rst", ""]
                lines += [f"   {n}" for n in group] + [""]
        for name, value, comment in documented_constants(module_name):
            lines += [f".. data:: {module_name}.{name}", f"   :value: {value!r}", ""]
            lines += [f"   {line}" for line in comment] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "api.rst"
    out.write_text(render())
    print(f"wrote {out}")
