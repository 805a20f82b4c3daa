"""Dates as each language writes them: "2 January 2027", "2027年1月2日"."""
from __future__ import annotations

from datetime import date, datetime

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def _is_chinese(language: str) -> bool:
    # "zh", "zh-HK", "zh_Hant", "yue" (Cantonese): all write dates the same way.
    return str(language or "").strip().lower().replace("_", "-").startswith(("zh", "yue"))


def format_date(day: date | datetime, language: str = "en") -> str:
    """"2 January 2027" in English, "2027年1月2日" in Chinese. Written out, never numeric:
    02/01/2027 is 2 January to a Hong Kong or European reader and 1 February to an
    American one, and a legal date must not be read two ways. The month's name is not
    taken from the locale (`%B`), so a server's LC_TIME cannot change it. A datetime
    gives its own date (convert it to the visitor's time zone first). Any other language
    gets English, the language the assistant answers in."""
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    if _is_chinese(language):
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
