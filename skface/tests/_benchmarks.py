"""Load a script of the repository's ``benchmarks/`` folder as a module, for its tests."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name):
    """The module ``benchmarks/<name>.py``; skips the test where the folder is not beside the
    package (an installed skface)."""
    script = BENCHMARKS / f"{name}.py"
    if not script.is_file():
        pytest.skip("benchmarks/ is not next to this installed package")
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
