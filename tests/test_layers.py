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
    assert "3 kept, 0 broken" in result.stdout


def test_the_contracts_catch_an_edge_importing_the_other_edge(tmp_path):
    # The project's own contracts, on a skeleton of the layout where an action imports a
    # channel and the core imports rasa_sdk: both contracts must break.
    config = _core_copy(tmp_path, {})
    (tmp_path / "imago_core" / "__init__.py").write_text("import rasa_sdk\n")
    (tmp_path / "actions" / "__init__.py").write_text("from extensions import channel\n")
    (tmp_path / "extensions" / "channel.py").write_text("")
    (tmp_path / "rasa_sdk").mkdir()
    (tmp_path / "rasa_sdk" / "__init__.py").write_text("")
    result = _lint(tmp_path, config)
    assert result.returncode != 0
    assert "The core knows nothing of Rasa or of the edges BROKEN" in result.stdout, result.stdout
    assert "Actions and Rasa-server plugins never import each other BROKEN" in result.stdout, result.stdout

CORE_PACKAGES = ["cli", "service", "handoff", "requests", "delivery", "identity", "policy", "storage", "mail",
                 "language", "settings", "vocabulary"]


def _core_copy(tmp_path: Path, bodies: dict) -> Path:
    """A skeleton of the core's packages, each module's body given (default empty)."""
    (tmp_path / "imago_core").mkdir()
    (tmp_path / "imago_core" / "__init__.py").write_text("")
    for name in CORE_PACKAGES:
        package = tmp_path / "imago_core" / name
        package.mkdir()
        (package / "__init__.py").write_text(bodies.get(name, ""))
    for edge in ("actions", "extensions"):
        (tmp_path / edge).mkdir()
        (tmp_path / edge / "__init__.py").write_text("")
    copied = tmp_path / "pyproject.toml"
    copied.write_text((ROOT / "pyproject.toml").read_text())
    return copied


def test_the_layers_contract_catches_a_lower_package_importing_a_higher_one(tmp_path):
    # The outbox reaching up into requests (the old cycle), even from inside a function.
    config = _core_copy(tmp_path, {"delivery": "def f():\n    from imago_core import requests\n"})
    result = _lint(tmp_path, config)
    assert result.returncode != 0
    assert "The core's packages form layers BROKEN" in result.stdout, result.stdout


def test_the_layers_contract_catches_siblings_importing_each_other(tmp_path):
    config = _core_copy(tmp_path, {"identity": "import imago_core.delivery.outbox\n"})
    result = _lint(tmp_path, config)
    assert "The core's packages form layers BROKEN" in result.stdout, result.stdout
