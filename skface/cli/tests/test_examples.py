"""Run every gallery example as a script (CI runs them all: they are marked slow)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").glob("plot_*.py"))


def test_examples_are_found():
    if not (REPO / "examples").is_dir():
        pytest.skip("examples/ is not next to this installed package")
    assert len(EXAMPLES) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    text = script.read_text()
    assert text.startswith('"""'), "examples start with a sphinx-gallery title docstring"
    env = dict(os.environ, MPLBACKEND="Agg", TMPDIR=str(tmp_path),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("SKFACE_REAL_DIR", None)
    env.pop("SKFACE_FAKE_DIR", None)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stderr[-3000:]}"
