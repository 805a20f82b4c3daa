"""Characters that change how text looks rather than what it says (issue 23, finding 10).

Visitors type into the chat, and what they type reaches the staff's terminal
(`imago-requests show`), the staff console and tickets:

- C0/C1 control characters: an ESC sequence clears or rewrites a terminal, a bare
  carriage return overprints a line (`details: ok\\r status: completed`);
- Unicode bidi controls (Trojan Source, CVE-2021-42574): an RLO or isolate makes a
  line display in an order other than its bytes, so staff read something else
  than what is stored.

`strip_controls` removes both from what a visitor types (the channels' clean_text;
newlines and tabs stay: they are part of a message). `printable` is for a line of
terminal output: bidi controls removed, every other control character shown as an
escape such as `\\x1b` or `\\n`, so a value can neither start a new line nor hide.
Right-to-left letters themselves (Arabic, Hebrew) are text, not controls: kept.
"""
from __future__ import annotations

import re
import unicodedata

# Explicit embeddings/overrides, isolates, and the marks (LRM, RLM, ALM).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
# C0 except tab and newline, DEL, C1.
_CONTROL_IN_MESSAGE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """What a visitor typed, without control or bidi characters (\\n and \\t kept)."""
    return _CONTROL_IN_MESSAGE.sub("", _BIDI.sub("", text))


def printable(value: object) -> str:
    """One line for a terminal: bidi controls dropped, other controls escaped."""
    text = _BIDI.sub("", str(value))
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
    code = ord(ch)
    if unicodedata.category(ch) in ("Zl", "Zp"):  # line/paragraph separators break lines too
        return f"\\u{code:04x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
