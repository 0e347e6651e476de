"""Print the oldest versions pyproject.toml allows, one ``name==version`` per line, for the
minimum-versions test run of ``.ci/run``.

Every runtime dependency is pinned at its declared floor, except torch: its floor's Linux
wheels on PyPI are CUDA builds of several GB, so the run keeps the CPU wheel the README pins.
torch 2.2.2 itself (with its CUDA libraries, about 3 GB) passed the same run by hand on
2026-11-30 (537 passed), after a fix for a test that assumed a torch.cpu helper of later
versions.
"""

import re
import sys
import tomllib
from pathlib import Path

KEEP = {"torch": "torch==2.13.0"}


def main():
    project = tomllib.loads(Path(__file__).resolve().parents[1].joinpath(
        "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", spec)
        if match is None:
            sys.exit(f"min_requirements: cannot read a floor from {spec!r}; write it as "
                     "'name>=version'")
        name, floor = match.groups()
        print(KEEP.get(name.lower(), f"{name}=={floor}"))


if __name__ == "__main__":
    main()
