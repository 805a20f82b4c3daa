"""Legal clocks for data-subject requests (GDPR, UK GDPR, Hong Kong PDPO, CCPA).

The rules are data (gdpr.yml, uk_gdpr.yml, pdpo.yml, ccpa.yml, with their articles);
the engine computes due dates, extensions, refusals and notices from them; Clock is the
request's state machine over its history. Pure: no database, no Rasa, no host clock.
docs/legal-clocks.md explains the clocks in plain words.
"""
from .counting import Period, add_business_days, add_months, local_day, move_past
from .dates import format_date
from .engine import (
    ClockRuleError,
    Deadline,
    ExtensionRefused,
    NoticeDuty,
    RefusalRejected,
    RegimeDeadline,
    check_extension,
    check_refusal,
    complaint_routes,
    due_date,
    refusal_grounds,
)
from .events import ClockEvent, EventKind
from .regimes import DEFAULT_REGIMES, applicable_regimes, regimes_from_setting, regimes_volunteered
from .rules import NOTICE_KINDS, REFUSAL_CODES, REQUEST_TYPES, Regime, Rule, RulesError, UnknownRegime, available_regimes, load_regime
from .state import Clock, ClockError, ClockState, IllegalTransition, TRANSITIONS, next_state

__all__ = [
    "Clock", "ClockError", "ClockEvent", "ClockRuleError", "ClockState", "DEFAULT_REGIMES", "Deadline",
    "EventKind", "ExtensionRefused", "IllegalTransition", "NOTICE_KINDS", "NoticeDuty", "Period",
    "REFUSAL_CODES", "REQUEST_TYPES", "RefusalRejected", "Regime", "RegimeDeadline", "Rule", "RulesError",
    "TRANSITIONS", "UnknownRegime", "add_business_days", "add_months", "applicable_regimes",
    "available_regimes", "check_extension", "check_refusal", "complaint_routes", "due_date",
    "format_date", "load_regime", "local_day", "move_past", "next_state", "refusal_grounds",
    "regimes_from_setting", "regimes_volunteered",
]
