"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and the checker
really catches a broken one (so a green run is not a checker that sees nothing)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_project_keeps_its_layer_contracts():
    result = _lint(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_contracts_catch_an_edge_importing_the_other_edge(tmp_path):
    # The project's own contracts, on a copy of the layout where an action imports a channel
    # and the core imports rasa_sdk: both contracts must break.
    for package, body in {
        "imago_core": "import rasa_sdk\n",
        "actions": "from extensions import channel\n",
        "extensions": "",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body)
    (tmp_path / "extensions" / "channel.py").write_text("")
    (tmp_path / "rasa_sdk").mkdir()
    (tmp_path / "rasa_sdk" / "__init__.py").write_text("")
    config = ROOT / "pyproject.toml"
    copied = tmp_path / "pyproject.toml"
    copied.write_text(config.read_text())
    result = _lint(tmp_path, copied)
    assert result.returncode != 0
    assert "0 kept, 2 broken" in result.stdout, result.stdout
