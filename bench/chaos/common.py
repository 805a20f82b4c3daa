"""What every part of the chaos run shares: the repository root (put on sys.path
for tests.support), the kinds of process killed, the patterns read from answers and
mails, the visitors' time limits, and the timestamped log line."""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("rasa", "actions", "postgres", "redis", "rt")
REFERENCE = re.compile(r"PRV-[0-9A-Z]{6}")
CODE = re.compile(r"\b(\d{6})\b")
CODE_SUBJECT = "Your IMAGO privacy verification code"
ASKS_EMAIL = "What is your email address"
ASKS_CODE = ("Please type it here", "please type the 6-digit code", "The code is 6 digits",
             "no valid code", "That code isn't right")
STEP_DEADLINE = 240.0  # a visitor gives up a message after this long (counted, never expected)
LONG_WAIT = 60.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
