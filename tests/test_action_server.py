"""The action server refuses to start without a long shared token (issue 9, finding 3);
its behaviour on the wire is tested against the running server in test_security_e2e.py."""
from __future__ import annotations

import subprocess
import sys

import pytest

from actions.server import build_app
from tests.support.stack import ROOT


def test_short_or_missing_token_is_refused():
    for token in ("", "x" * 31):
        with pytest.raises(ValueError, match="at least 32"):
            build_app(token)


def test_entry_point_exits_without_a_token():
    env = {"PATH": "/usr/bin:/bin", "IMAGO_DOTENV": "off", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "actions.server", "--port", "1"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "refusing to start" in result.stderr
