"""Configuration, read once from the environment (and a `.env` file if present).

Every variable is documented in `.env.example`. Nothing here opens a connection:
engines, mailers and ticket clients are built lazily by their own modules.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A configuration variable is missing or malformed."""


def _env(name: str, default: Optional[str] = None) -> Optional[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    policy_url: str
    database_url: str
    otp_secret: Optional[str]
    verification_ttl_minutes: int
    code_ttl_minutes: int
    mail_outbox: Path
    smtp_host: Optional[str]
    smtp_port: int
    smtp_username: Optional[str]
    smtp_password: Optional[str] = field(repr=False, default=None)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 10.0
    smtp_ca_file: Optional[str] = None
    mail_from: str = "IMAGO Privacy Assistant <privacy-assistant@localhost>"
    privacy_team_email: str = "support@Imagotechs.com"
    ticket_backend: str = "local"
    handoff_wait: str = "usually within one working day"
    staff_token: Optional[str] = field(repr=False, default=None)
    # Retention (actions/retention.py); see .env.example.
    conversation_retention_days: int = 30
    request_retention_days: int = 1095
    tracker_store_url: str = "sqlite:///var/tracker.db"

    @property
    def secret_bytes(self) -> bytes:
        if not self.otp_secret or len(self.otp_secret) < 16:
            raise ConfigError(
                "OTP_SECRET is not set (or shorter than 16 characters); "
                "`make run` creates one in .env on first start"
            )
        return self.otp_secret.encode("utf-8")


def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a declared dependency
        return
    if os.environ.get("IMAGO_DOTENV", "").lower() == "off":  # tests: no developer .env
        return
    # The environment wins over .env, so CI and production can override it.
    load_dotenv(PROJECT_ROOT / ".env", override=False)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    _load_dotenv()
    var_dir = Path(_env("IMAGO_VAR_DIR", str(PROJECT_ROOT / "var")))
    return Settings(
        policy_url=_env("POLICY_URL", "http://localhost:8080/policy"),
        database_url=_env("DATABASE_URL", f"sqlite:///{var_dir / 'imago.db'}"),
        otp_secret=_env("OTP_SECRET"),
        verification_ttl_minutes=_env_int("VERIFICATION_TTL_MINUTES", 30),
        code_ttl_minutes=_env_int("CODE_TTL_MINUTES", 10),
        mail_outbox=Path(_env("MAIL_OUTBOX", str(var_dir / "outbox"))),
        smtp_host=_env("SMTP_HOST"),
        smtp_port=_env_int("SMTP_PORT", 587),
        smtp_username=_env("SMTP_USERNAME"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_starttls=_env_bool("SMTP_STARTTLS", True),
        smtp_ssl=_env_bool("SMTP_SSL", False),
        smtp_timeout=float(_env("SMTP_TIMEOUT", "10")),
        smtp_ca_file=_env("SMTP_CA_FILE"),
        mail_from=_env("MAIL_FROM", "IMAGO Privacy Assistant <privacy-assistant@localhost>"),
        privacy_team_email=_env("PRIVACY_TEAM_EMAIL", "support@Imagotechs.com"),
        ticket_backend=_env("TICKET_BACKEND", "local").lower(),
        handoff_wait=_env("HANDOFF_WAIT", "usually within one working day"),
        staff_token=_env("STAFF_TOKEN"),
        conversation_retention_days=_retention_days("CONVERSATION_RETENTION_DAYS", 30, minimum=1),
        request_retention_days=_retention_days("REQUEST_RETENTION_DAYS", 1095, minimum=MIN_REQUEST_RETENTION_DAYS),
        tracker_store_url=_env("TRACKER_STORE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'tracker.db'}"),
    )


# A request record must stay at least as long as answering a request can take
# (one month under GDPR Art. 12(3), plus slack for follow-up questions).
MIN_REQUEST_RETENTION_DAYS = 45


def _retention_days(name: str, default: int, minimum: int) -> int:
    days = _env_int(name, default)
    if days < minimum:
        raise ConfigError(
            f"{name}={days} is too short: it must be at least {minimum} days"
            + (" (the time needed to answer a request)" if minimum > 1 else "")
        )
    return days


def reset_settings_cache() -> None:
    """Tests change the environment; this makes the next read see it."""
    get_settings.cache_clear()
