"""The API and CLI reference pages list every public name and subcommand."""

import importlib.util
from pathlib import Path

import pytest

from skface.cli._main import SUBCOMMANDS

DOCS = Path(__file__).resolve().parents[3] / "docs"
pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not next to the package")


def _make_api():
    spec = importlib.util.spec_from_file_location("make_api", DOCS / "make_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_page_lists_every_public_class_and_function():
    import importlib
    import inspect

    mod = _make_api()
    text = mod.render()
    for module_name, _, _ in mod.SECTIONS[1:]:
        sub = importlib.import_module(module_name)
        for name in sub.__all__:
            obj = getattr(sub, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert f"   {name}\n" in text, f"{module_name}.{name} missing from the API page"
    for name in ("FaceCNNClassifier", "load_demo_faces", "ImageLoader", "build_dataset"):
        assert f"   {name}\n" in text


def test_cli_page_lists_every_subcommand():
    text = (DOCS / "cli.rst").read_text()
    for name, _ in SUBCOMMANDS:
        assert f"generated/cli/{name}.txt" in text
