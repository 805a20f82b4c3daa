"""The texts the RocketChat connector posts itself, read from texts.yml next to it.

The assistant's answers are domain.yml responses; these are said by the channel outside
any turn (a failed turn, a hand-off, a move to a direct message), so they cannot be
responses. Keeping them in a file lets them be reworded without touching code; a
missing key fails at import, not in front of a visitor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import yaml

TEXTS_FILE = Path(__file__).with_name("texts.yml")
REQUIRED = ("handoff_connecting", "handoff_fallback", "turn_failed", "move_failed", "move_done",
            "move_direct_greeting", "move_continue_button")


def _load() -> Dict[str, str]:
    loaded = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8")) or {}
    missing = [key for key in REQUIRED if not isinstance(loaded.get(key), str) or not loaded[key].strip()]
    if missing:
        raise RuntimeError(f"{TEXTS_FILE} lacks the text(s) {', '.join(missing)}")
    return {key: loaded[key].strip() for key in REQUIRED}


TEXTS = _load()
