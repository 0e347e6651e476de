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


def test_api_page_is_up_to_date():
    mod = _make_api()
    assert (DOCS / "api.rst").read_text() == mod.render(), \
        "docs/api.rst is stale: run `python docs/make_api.py`"


def test_api_page_lists_the_main_names():
    text = (DOCS / "api.rst").read_text()
    for name in ("FaceCNNClassifier", "load_demo_faces", "ImageLoader", "build_dataset"):
        assert f"   {name}\n" in text


def test_cli_page_lists_every_subcommand():
    text = (DOCS / "cli.rst").read_text()
    for name, _ in SUBCOMMANDS:
        assert f"generated/cli/{name}.txt" in text
