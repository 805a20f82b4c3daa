"""Configuration, read once from the environment (and a `.env` file if present).

Every variable is documented in `.env.example`. Nothing here opens a connection:
engines, mailers and ticket clients are built lazily by their own modules.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A configuration variable is missing or malformed."""


def _env(name: str, default: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    value = (os.environ if env is None else env).get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_int(name: str, default: int, env: Optional[Mapping[str, str]] = None) -> int:
    raw = _env(name, env=env)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _env_bool(name: str, default: bool, env: Optional[Mapping[str, str]] = None) -> bool:
    raw = _env(name, env=env)
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


ZENDESK_AUTH_MODES = ("client_credentials", "token_pair", "api_token")
ZENDESK_DEFAULT_SCOPE = "tickets:read tickets:write"


@dataclass(frozen=True)
class ZendeskSettings:
    """How to reach and authenticate to Zendesk (TICKET_BACKEND=zendesk).

    `auth` is one of ZENDESK_AUTH_MODES; unset, it follows from what is given:
    an access token -> token_pair; a client id and secret -> client_credentials;
    an agent address and API token -> api_token (deprecated: Zendesk turns every
    API token off on 30 April 2027).
    """

    subdomain: Optional[str] = None
    url: Optional[str] = None
    auth: Optional[str] = None
    client_id: Optional[str] = None
    client_secret: Optional[str] = field(repr=False, default=None)
    scope: str = ZENDESK_DEFAULT_SCOPE
    access_token: Optional[str] = field(repr=False, default=None)
    refresh_token: Optional[str] = field(repr=False, default=None)
    # Where a refreshed token pair is kept (Zendesk invalidates the old pair on refresh).
    token_file: Optional[Path] = None
    email: Optional[str] = None
    api_token: Optional[str] = field(repr=False, default=None)

    @classmethod
    def from_env(cls, env: Mapping[str, str], var_dir: Optional[Path] = None) -> "ZendeskSettings":
        def get(name: str) -> Optional[str]:
            value = env.get(name)
            return str(value).strip() if value is not None and str(value).strip() else None

        auth = get("ZENDESK_AUTH")
        if auth is not None:
            auth = auth.lower().replace("-", "_")
            if auth not in ZENDESK_AUTH_MODES:
                raise ConfigError(f"ZENDESK_AUTH must be one of {', '.join(ZENDESK_AUTH_MODES)}; got {auth!r}")
        token_file = get("ZENDESK_TOKEN_FILE")
        if token_file is None and var_dir is not None:
            token_file = str(var_dir / "zendesk-oauth.json")
        return cls(
            subdomain=get("ZENDESK_SUBDOMAIN"), url=get("ZENDESK_URL"), auth=auth,
            client_id=get("ZENDESK_CLIENT_ID"), client_secret=get("ZENDESK_CLIENT_SECRET"),
            scope=get("ZENDESK_SCOPE") or ZENDESK_DEFAULT_SCOPE,
            access_token=get("ZENDESK_ACCESS_TOKEN"), refresh_token=get("ZENDESK_REFRESH_TOKEN"),
            token_file=Path(token_file) if token_file else None,
            email=get("ZENDESK_EMAIL"), api_token=get("ZENDESK_TOKEN"),
        )

    @property
    def auth_mode(self) -> Optional[str]:
        """The configured or inferred mode; None when nothing usable is given."""
        if self.auth:
            return self.auth
        if self.access_token:
            return "token_pair"
        if self.client_id or self.client_secret:
            return "client_credentials"
        if self.email or self.api_token:
            return "api_token"
        return None

    @property
    def base_url(self) -> Optional[str]:
        if self.url:
            return self.url.rstrip("/")
        return f"https://{self.subdomain}.zendesk.com" if self.subdomain else None

    def missing(self) -> list:
        """Names of the variables still needed, for one clear ConfigError."""
        missing = [] if self.base_url else ["ZENDESK_SUBDOMAIN (or ZENDESK_URL)"]
        mode = self.auth_mode
        if mode is None:
            return missing + ["ZENDESK_CLIENT_ID and ZENDESK_CLIENT_SECRET (OAuth client credentials)"]
        if mode == "client_credentials":
            missing += [n for n, v in (("ZENDESK_CLIENT_ID", self.client_id),
                                       ("ZENDESK_CLIENT_SECRET", self.client_secret)) if not v]
        elif mode == "token_pair":
            missing += [n for n, v in (("ZENDESK_ACCESS_TOKEN", self.access_token),
                                       ("ZENDESK_CLIENT_ID", self.client_id)) if not v]
        else:
            missing += [n for n, v in (("ZENDESK_EMAIL", self.email), ("ZENDESK_TOKEN", self.api_token)) if not v]
        return missing


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
    # Ticket backend, chosen like Rasa's stores: `local`, `rt`, `zendesk`, or the class
    # path of a backend of your own (imago_core/delivery/tickets/factory.py builds it).
    ticket_backend: str = "local"
    ticket_timeout: float = 10.0
    # http:// to a loopback backend (imago_core/delivery/tickets/transport.py); https otherwise.
    ticket_allow_http_loopback: bool = False
    rt_url: Optional[str] = None
    rt_queue: str = "General"
    rt_token: Optional[str] = field(repr=False, default=None)
    rt_user: Optional[str] = None
    rt_password: Optional[str] = field(repr=False, default=None)
    zendesk: ZendeskSettings = field(default_factory=ZendeskSettings)
    # Codes one client network may have sent (imago_core/identity/codes.py); see .env.example.
    code_sends_per_client_hour: int = 10
    code_sends_per_client_day: int = 30
    # Wrong codes per address before no code for it verifies (imago_core/identity/address_budget.py),
    # and the code mails per address and per (address, client network) in 15 minutes
    # (imago_core/identity/address_ceiling.py); see .env.example.
    code_failures_per_address: int = 10
    code_failure_window_hours: int = 24
    code_mails_per_address: int = 6
    code_mails_per_address_network: int = 2
    # Retention (imago_core/requests/retention.py); see .env.example.
    conversation_retention_days: int = 30
    request_retention_days: int = 1095
    # Escalations still waiting for, or with, staff: removed once idle this long.
    open_escalation_retention_days: int = 90
    # No default: erasure and the purge must find the Rasa server's own store, and a
    # guessed SQLite path that does not exist made them delete nothing, silently
    # (issue 23, finding 6). scripts/lib.sh writes the local one into .env.
    tracker_store_url: Optional[str] = None
    handoff_wait: str = "usually within one working day"
    staff_token: Optional[str] = field(repr=False, default=None)
    staff_tokens: Optional[str] = field(repr=False, default=None)  # "name:token,name:token"
    action_server_token: Optional[str] = field(repr=False, default=None)
    rest_token: Optional[str] = field(repr=False, default=None)
    trusted_proxies: str = ""  # comma-separated addresses/networks allowed to set X-Forwarded-For
    # Widget session ids (extensions/channels/widget_session.py): a key of their own,
    # not OTP_SECRET, and how long an id is accepted from its issue time.
    widget_session_secret: Optional[str] = field(repr=False, default=None)
    widget_session_ttl_hours: int = 24
    # The legal regimes whose clocks every request starts (imago_core/requests/clocks/);
    # checked at start-up by imago_core.service, so a misspelt name stops the server.
    regimes: str = "gdpr,pdpo"

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


def _timeout(env: Mapping[str, str]) -> float:
    raw = _env("TICKET_TIMEOUT", env=env)
    if raw is None:
        return 10.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"TICKET_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"TICKET_TIMEOUT must be more than 0 seconds, got {raw!r}")
    return value


# A request record must stay at least as long as answering a request can take
# (one month under GDPR Art. 12(3), plus slack for follow-up questions).
MIN_REQUEST_RETENTION_DAYS = 45


def _retention_days(name: str, default: int, minimum: int, env: Mapping[str, str]) -> int:
    days = _env_int(name, default, env)
    if days < minimum:
        raise ConfigError(
            f"{name}={days} is too short: it must be at least {minimum} days"
            + (" (the time needed to answer a request)" if minimum > 1 else "")
        )
    return days


def _positive(name: str, default: int, env: Mapping[str, str]) -> int:
    value = _env_int(name, default, env)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, got {value}")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Settings from a mapping of variables (the environment, or a test's own)."""
    var_dir = Path(_env("IMAGO_VAR_DIR", str(PROJECT_ROOT / "var"), env))
    backend = _env("TICKET_BACKEND", "local", env)
    if "." not in backend:  # a class path keeps its case
        backend = backend.lower()
    return Settings(
        policy_url=_env("POLICY_URL", "http://localhost:8080/policy", env),
        database_url=_env("DATABASE_URL", f"sqlite:///{var_dir / 'imago.db'}", env),
        otp_secret=_env("OTP_SECRET", env=env),
        verification_ttl_minutes=_env_int("VERIFICATION_TTL_MINUTES", 30, env),
        code_ttl_minutes=_env_int("CODE_TTL_MINUTES", 10, env),
        mail_outbox=Path(_env("MAIL_OUTBOX", str(var_dir / "outbox"), env)),
        smtp_host=_env("SMTP_HOST", env=env),
        smtp_port=_env_int("SMTP_PORT", 587, env),
        smtp_username=_env("SMTP_USERNAME", env=env),
        smtp_password=_env("SMTP_PASSWORD", env=env),
        smtp_starttls=_env_bool("SMTP_STARTTLS", True, env),
        smtp_ssl=_env_bool("SMTP_SSL", False, env),
        smtp_timeout=float(_env("SMTP_TIMEOUT", "10", env)),
        smtp_ca_file=_env("SMTP_CA_FILE", env=env),
        mail_from=_env("MAIL_FROM", "IMAGO Privacy Assistant <privacy-assistant@localhost>", env),
        privacy_team_email=_env("PRIVACY_TEAM_EMAIL", "support@Imagotechs.com", env),
        ticket_backend=backend,
        ticket_timeout=_timeout(env),
        ticket_allow_http_loopback=_env_bool("TICKET_ALLOW_HTTP_LOOPBACK", False, env),
        rt_url=_env("RT_URL", env=env),
        rt_queue=_env("RT_QUEUE", "General", env),
        rt_token=_env("RT_TOKEN", env=env),
        rt_user=_env("RT_USER", env=env),
        rt_password=_env("RT_PASSWORD", env=env),
        zendesk=ZendeskSettings.from_env(env, var_dir),
        handoff_wait=_env("HANDOFF_WAIT", "usually within one working day", env),
        staff_token=_env("STAFF_TOKEN", env=env),
        staff_tokens=_env("STAFF_TOKENS", env=env),
        action_server_token=_env("ACTION_SERVER_TOKEN", env=env),
        rest_token=_env("REST_TOKEN", env=env),
        trusted_proxies=_env("TRUSTED_PROXIES", "", env),
        widget_session_secret=_env("WIDGET_SESSION_SECRET", env=env),
        widget_session_ttl_hours=_positive("WIDGET_SESSION_TTL_HOURS", 24, env),
        regimes=_env("REGIMES", "gdpr,pdpo", env),
        code_sends_per_client_hour=_env_int("CODE_SENDS_PER_CLIENT_HOUR", 10, env),
        code_sends_per_client_day=_env_int("CODE_SENDS_PER_CLIENT_DAY", 30, env),
        code_failures_per_address=_env_int("CODE_FAILURES_PER_ADDRESS", 10, env),
        code_failure_window_hours=_env_int("CODE_FAILURE_WINDOW_HOURS", 24, env),
        code_mails_per_address=_env_int("CODE_MAILS_PER_ADDRESS", 6, env),
        code_mails_per_address_network=_env_int("CODE_MAILS_PER_ADDRESS_NETWORK", 2, env),
        conversation_retention_days=_retention_days("CONVERSATION_RETENTION_DAYS", 30, 1, env),
        request_retention_days=_retention_days("REQUEST_RETENTION_DAYS", 1095, MIN_REQUEST_RETENTION_DAYS, env),
        tracker_store_url=_env("TRACKER_STORE_URL", env=env),
        # At least the conversation's own retention: a hand-over never outlives nothing.
        open_escalation_retention_days=_retention_days(
            "OPEN_ESCALATION_RETENTION_DAYS", 90, _retention_days("CONVERSATION_RETENTION_DAYS", 30, 1, env), env),
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    _load_dotenv()
    return load_settings(os.environ)


def reset_settings_cache() -> None:
    """Tests change the environment; this makes the next read see it."""
    get_settings.cache_clear()
