"""The rule tables (gdpr.yml, uk_gdpr.yml, pdpo.yml, ccpa.yml beside this module), read
into frozen dataclasses and checked on load.

The law lives in the YAML, with its articles; this module only knows the shape. A table
that is malformed, lacks a source or misses a request type fails loudly on load, so a
typo in a deadline cannot pass silently into a due date.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

import yaml

from imago_core.vocabulary import RequestType

from .counting import UNITS, WEEKDAY_NAMES, Period

TABLE_DIR = Path(__file__).resolve().parent
REQUEST_TYPES: Tuple[str, ...] = tuple(t.value for t in RequestType)
REFUSAL_CODES: Tuple[str, ...] = ("identity_not_proven", "manifestly_unfounded_or_excessive", "exempt")
# What the visitor can be told of; each rule's `notify` names the ones its law requires.
NOTICE_KINDS: Tuple[str, ...] = ("receipt", "question", "extension", "completion", "refusal")


class RulesError(ValueError):
    """A rule table is missing or malformed."""


class UnknownRegime(RulesError):
    """No table for this regime."""


@dataclass(frozen=True)
class Extension:
    """How a regime lets the answer be delayed. `period` None: no new fixed date (PDPO
    s.19(2): comply "as soon as practicable" after a notice with reasons)."""

    period: Optional[Period]
    times: int
    notice_by: str  # "answer": the notice is due by the original answer deadline
    source: str
    statutory: bool = True


@dataclass(frozen=True)
class Refusal:
    """When a refusal must reach the visitor. `after_extension`: an extension moves it too
    (CCPA, where a denial is the response); otherwise it stays at the first period."""

    period: Period
    after_extension: bool
    source: str
    statutory: bool = True


@dataclass(frozen=True)
class Rule:
    """One regime's clocks for one request type."""

    regime: str
    request_type: str
    answer: Period
    answer_source: str
    statutory: bool
    last_day_moves_past: Tuple[str, ...]
    extension: Optional[Extension]
    refusal: Optional[Refusal]  # None: the law gives no ground to refuse this request
    receipt: Optional[Period]
    receipt_source: Optional[str]
    notify: Mapping[str, str]  # notice kind -> its source


@dataclass(frozen=True)
class Regime:
    key: str
    name: str
    utc_offset_hours: float
    last_day_moves_past: Tuple[str, ...]
    last_day_source: str
    pause_allowed: bool
    pause_source: str
    complaint_route: Mapping[str, str]  # language -> sentence
    refusal_codes: Mapping[str, str]  # code -> source
    rules: Mapping[str, Rule] = field(repr=False)

    def rule(self, request_type: str) -> Rule:
        try:
            return self.rules[str(getattr(request_type, "value", request_type))]
        except KeyError:
            raise RulesError(f"{self.key}: no rule for request type {request_type!r}") from None


def available_regimes() -> Tuple[str, ...]:
    """The regimes that have a table, by file name."""
    return tuple(sorted(p.stem for p in TABLE_DIR.glob("*.yml")))


@functools.lru_cache(maxsize=None)
def load_regime(key: str) -> Regime:
    """The checked table of one regime ("gdpr", "uk_gdpr", "pdpo", "ccpa")."""
    return _build(key, _raw(key))


def _raw(key: str, seen: Tuple[str, ...] = ()) -> dict:
    """A table's mapping, with an `extends:` parent merged under it (one level of keys,
    and per request type), so uk_gdpr.yml states only what differs from gdpr.yml."""
    if key in seen:
        raise RulesError(f"rule tables extend each other in a circle: {' -> '.join(seen + (key,))}")
    if not key.replace("_", "").isalnum():
        raise UnknownRegime(f"not a regime name: {key!r}")
    path = TABLE_DIR / f"{key}.yml"
    if not path.is_file():
        raise UnknownRegime(f"no rule table for regime {key!r} (known: {', '.join(available_regimes())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RulesError(f"{path.name}: expected a mapping at the top")
    if data.get("regime") != key:
        raise RulesError(f"{path.name}: `regime` must be {key!r}, got {data.get('regime')!r}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    merged = dict(_raw(parent, seen + (key,)))
    for name, value in data.items():
        if name == "requests" and isinstance(value, dict):
            requests = dict(merged.get("requests") or {})
            requests.update(value)
            merged["requests"] = requests
        else:
            merged[name] = value
    return merged


def _need(mapping: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in mapping:
        raise RulesError(f"{where}: `{name}` is missing")
    value = mapping[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RulesError(f"{where}: `{name}` must be {kind.__name__}, got {value!r}")
    if kind is str and not value.strip():
        raise RulesError(f"{where}: `{name}` must not be empty")
    return value


def _period(spec: Mapping[str, Any], where: str, allow_open: bool = False) -> Optional[Period]:
    """{months: 1} / {days: 40} / {business_days: 10}; {days: null} only if allow_open."""
    units = [u for u in UNITS if u in spec]
    if len(units) != 1:
        raise RulesError(f"{where}: give exactly one of {', '.join(UNITS)}")
    amount = spec[units[0]]
    if amount is None and allow_open:
        return None
    try:
        return Period(units[0], amount)
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None


def _weekdays(value: Any, where: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or any(v not in WEEKDAY_NAMES for v in value):
        raise RulesError(f"{where}: `last_day_moves_past` must be a list of {WEEKDAY_NAMES}")
    return tuple(value)


_RULE_KEYS = {"answer", "extension", "refusal", "receipt", "notify"}


def _build(key: str, data: Mapping[str, Any]) -> Regime:
    where = f"{key}.yml"
    moves = _weekdays(_need(data, "last_day_moves_past", list, where), where)
    pause = _need(data, "pause", dict, where)
    route = _need(data, "complaint_route", dict, where)
    if not {"en", "zh"} <= set(route):
        raise RulesError(f"{where}: `complaint_route` needs en and zh")
    codes = _need(data, "refusal_codes", dict, where)
    if set(codes) != set(REFUSAL_CODES):
        raise RulesError(f"{where}: `refusal_codes` must name exactly {REFUSAL_CODES}")
    requests = _need(data, "requests", dict, where)
    missing = set(REQUEST_TYPES) - set(requests)
    extra = set(requests) - set(REQUEST_TYPES)
    if missing or extra:
        raise RulesError(f"{where}: request types missing {sorted(missing)} / unknown {sorted(extra)}")
    rules = {}
    for request_type in REQUEST_TYPES:
        spec = requests[request_type]
        here = f"{where} {request_type}"
        if not isinstance(spec, dict):
            raise RulesError(f"{here}: expected a mapping")
        if set(spec) - _RULE_KEYS:
            raise RulesError(f"{here}: unknown keys {sorted(set(spec) - _RULE_KEYS)}")
        answer_spec = _need(spec, "answer", dict, here)
        answer = _period(answer_spec, f"{here} answer")
        rule_moves = (_weekdays(answer_spec["last_day_moves_past"], f"{here} answer")
                      if "last_day_moves_past" in answer_spec else moves)
        extension = None
        if spec.get("extension") is not None:
            ext = _need(spec, "extension", dict, here)
            extension = Extension(
                period=_period({k: v for k, v in ext.items() if k in UNITS}, f"{here} extension", allow_open=True),
                times=_need(ext, "times", int, f"{here} extension"),
                notice_by=_need(ext, "notice_by", str, f"{here} extension"),
                source=_need(ext, "source", str, f"{here} extension"),
                statutory=bool(ext.get("statutory", True)),
            )
            if extension.notice_by != "answer":
                raise RulesError(f"{here} extension: `notice_by` must be 'answer'")
            if extension.times < 1:
                raise RulesError(f"{here} extension: `times` must be at least 1 (or write extension: null)")
        refusal = None
        if spec.get("refusal") is not None:
            ref = _need(spec, "refusal", dict, here)
            refusal = Refusal(
                period=_period({k: v for k, v in ref.items() if k in UNITS}, f"{here} refusal"),
                after_extension=_need(ref, "after_extension", bool, f"{here} refusal"),
                source=_need(ref, "source", str, f"{here} refusal"),
                statutory=bool(ref.get("statutory", True)),
            )
        receipt = receipt_source = None
        if spec.get("receipt") is not None:
            rec = _need(spec, "receipt", dict, here)
            receipt = _period({k: v for k, v in rec.items() if k in UNITS}, f"{here} receipt")
            receipt_source = _need(rec, "source", str, f"{here} receipt")
        notify = _need(spec, "notify", dict, here)
        if set(notify) - set(NOTICE_KINDS):
            raise RulesError(f"{here}: unknown notices {sorted(set(notify) - set(NOTICE_KINDS))}")
        for kind, source in notify.items():
            _need(notify, kind, str, f"{here} notify")
        # A rule that allows something must tell the visitor of it, or the table contradicts itself.
        for kind, present in (("extension", extension), ("refusal", refusal), ("receipt", receipt)):
            if present is not None and kind not in notify:
                raise RulesError(f"{here}: allows {kind} but `notify` does not name it")
        rules[request_type] = Rule(
            regime=key, request_type=request_type, answer=answer,
            answer_source=_need(answer_spec, "source", str, f"{here} answer"),
            statutory=bool(answer_spec.get("statutory", True)),
            last_day_moves_past=rule_moves, extension=extension, refusal=refusal,
            receipt=receipt, receipt_source=receipt_source, notify=dict(notify),
        )
    return Regime(
        key=key,
        name=_need(data, "name", str, where),
        utc_offset_hours=_need(data, "utc_offset_hours", float, where),
        last_day_moves_past=moves,
        last_day_source=_need(data, "last_day_source", str, where),
        pause_allowed=_need(pause, "allowed", bool, f"{where} pause"),
        pause_source=_need(pause, "source", str, f"{where} pause"),
        complaint_route={k: str(v) for k, v in route.items()},
        refusal_codes={k: _need(codes, k, str, f"{where} refusal_codes") for k in REFUSAL_CODES},
        rules=rules,
    )
