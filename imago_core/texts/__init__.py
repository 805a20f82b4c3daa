"""Texts the visitor reads, kept in YAML files beside this module rather than in code,
so they can be reviewed and reworded without touching the logic that sends them.

    text("deletion_fresh_code", address="j***@example.org")

Each file maps a key to a text with `{placeholders}` (str.format). Files are read
once; a missing key or placeholder is a KeyError at the call, which tests catch.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict

import yaml

FOLDER = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def _texts() -> Dict[str, str]:
    texts: Dict[str, str] = {}
    for path in sorted(FOLDER.glob("*.yml")):
        for key, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if key in texts:
                raise ValueError(f"text {key!r} is defined twice ({path.name})")
            texts[key] = " ".join(str(value).split())
    return texts


def text(key: str, **values: object) -> str:
    return _texts()[key].format(**values)
