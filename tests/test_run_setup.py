"""What `make run` sets up before anything starts: the local secrets in .env (a staff
token among them, so a newcomer can sign in to the desk at once), and the filter that
hides third-party deprecation warnings while keeping the project's own."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_copy(tmp_path: Path, env_text: str = None) -> Path:
    """scripts/lib.sh and .env.example in a folder of their own, with the real venv."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lib.sh", tmp_path / "scripts" / "lib.sh")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).resolve().parents[1])
    if env_text is not None:
        (tmp_path / ".env").write_text(env_text)
    return tmp_path


def ensure_env(folder: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("STAFF_TOKEN", "STAFF_TOKENS", "OTP_SECRET",
                                                              "ACTION_SERVER_TOKEN")}
    subprocess.run(["bash", "-c", f"source {folder / 'scripts' / 'lib.sh'} && ensure_env_file"],
                   check=True, capture_output=True, env=env, timeout=60)
    return (folder / ".env").read_text()


def value(text: str, name: str) -> str:
    found = re.findall(rf"^{name}=(.*)$", text, re.M)
    return found[-1] if found else ""


def test_first_start_generates_a_staff_token_and_keeps_it(tmp_path):
    folder = project_copy(tmp_path)
    first = ensure_env(folder)
    token = value(first, "STAFF_TOKEN")
    assert len(token) >= 32 and token != value(first, "OTP_SECRET")  # the console's minimum
    assert oct((folder / ".env").stat().st_mode & 0o777) == "0o600"
    assert value(ensure_env(folder), "STAFF_TOKEN") == token  # a second start keeps it


def test_per_person_tokens_get_no_shared_one(tmp_path):
    folder = project_copy(tmp_path, "STAFF_TOKENS=maria:" + "m" * 40 + "\n")
    assert value(ensure_env(folder), "STAFF_TOKEN") == ""


def test_third_party_deprecations_are_hidden_and_ours_are_not(tmp_path):
    code = (
        "import warnings\n"
        "warnings.filterwarnings('once', category=DeprecationWarning)\n"  # what sanic/app.py does on import
        "warnings.warn_explicit('third-party', DeprecationWarning, 'a.py', 1, module='rasa.core.channels')\n"
        "warnings.warn_explicit('pkg', DeprecationWarning, 'b.py', 1, module='pkg_resources')\n"
        "warnings.warn_explicit('ours', DeprecationWarning, 'c.py', 1, module='imago_core.mail')\n"
        "warnings.warn_explicit('not a deprecation', UserWarning, 'd.py', 1, module='rasa.core')\n"
    )
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "scripts" / "site")), cwd=tmp_path, timeout=60)
    assert "third-party" not in result.stderr and "pkg" not in result.stderr
    assert "DeprecationWarning: ours" in result.stderr and "UserWarning: not a deprecation" in result.stderr
    assert 'PYTHONPATH="$ROOT/scripts/site' in (ROOT / "scripts" / "run.sh").read_text()
