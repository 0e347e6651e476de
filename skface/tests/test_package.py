"""The top-level package: every public name resolves, and importing it loads no PyTorch."""

import subprocess
import sys

import pytest

import skface


def test_every_public_name_resolves():
    for name in skface.__all__:
        assert getattr(skface, name) is not None, name
    assert set(skface.__all__) <= set(dir(skface))
    from skface._classifier import FaceCNNClassifier

    assert skface.FaceCNNClassifier is FaceCNNClassifier
    ns = {}
    exec("from skface import *", ns)
    assert set(skface.__all__) <= set(ns)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'FaceCnnClassifier'"):
        skface.FaceCnnClassifier  # noqa: B018
    assert not hasattr(skface, "load_faces")  # lives in skface.datasets only


@pytest.mark.parametrize("code", [
    "import skface",
    # the command's parser: `skface --help` and usage errors answer without PyTorch, and a
    # Ctrl-C while a command imports it reaches the command's own handler
    "from skface.cli import build_parser; build_parser()",
])
def test_import_loads_no_torch(code):
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; print('torch' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "False"
