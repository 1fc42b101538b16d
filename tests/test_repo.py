"""Repository hygiene: the README documents every op and its commands, ruff is clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backprop import registry

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_registered_op() -> None:
    table = ROOT.joinpath("README.md").read_text(encoding="utf-8").split("### Registered ops")[1]
    listed = set(re.findall(r"`([a-z_0-9]+)`", table.split("\n## ")[0]))
    missing = set(registry.list_ops()) - listed
    assert not missing, f"ops missing from the README's table: {sorted(missing)}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    block = readme.split("### Run the tests")[1].split("```bash\n")[1].split("\n")[0]
    out = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print-command"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == block
    assert "pip install" in block and "pytest" in block


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (it comes with the test extra)")
def test_ruff_is_clean() -> None:
    out = subprocess.run(["ruff", "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
