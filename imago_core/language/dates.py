"""Dates as each language writes them: "2 January 2027", "2027年1月2日"."""
from __future__ import annotations

from datetime import datetime


def format_date(moment: datetime, language: str = "en") -> str:
    if language.startswith("zh"):
        return f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{moment.day} {moment:%B %Y}"
