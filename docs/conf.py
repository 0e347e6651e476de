"""Sphinx configuration for the skface documentation.

Build (from the repository root):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Add ``-D plot_gallery=0`` to skip running the examples (CI does this).
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the working tree, installed or not
os.environ.setdefault("MPLBACKEND", "Agg")

import skface  # noqa: E402

project = "skface"
author = "The skface developers"
copyright = "2026, The skface developers"
release = skface.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# -- API reference -------------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://pytorch.org/docs/stable", None),
}
# The docs must build offline (CI has no internet): no inventory is fetched, so cross-project
# references render as plain text.
intersphinx_disabled_reftypes = ["*"]
intersphinx_timeout = 1
if os.environ.get("SKFACE_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skface {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "install": [], "cli": []}

# -- Gallery -------------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "True",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": True,
}


# -- CLI reference: the --help text of every subcommand, made from the parser itself ------------
def _write_cli_help(app):
    from skface.cli import build_parser
    from skface.cli._main import SUBCOMMANDS

    out = DOCS / "generated" / "cli"
    out.mkdir(parents=True, exist_ok=True)
    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    texts = {"skface": parser.format_help()}
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, _ in SUBCOMMANDS:
        texts[name] = subparsers.choices[name].format_help()
    for name, text in texts.items():
        path = out / f"{name}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    # scikit-learn generates set_*_request methods whose docstrings point into its own docs.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _write_api_page(app):
    # docs/api.rst lists every public class and function; regenerate it so it never goes stale.
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_api", DOCS / "make_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path, text = DOCS / "api.rst", mod.render()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    app.connect("config-inited", lambda app, config: _write_api_page(app))
    app.connect("builder-inited", _write_cli_help)
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
