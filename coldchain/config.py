"""Settings shared by every service (docs/design.md §9): `COLDCHAIN_*` environment or TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coldchain.errors import ConfigError
from coldchain.security.redact import validation_summary

__all__ = ["MqttEndpoint", "Settings"]


class MqttEndpoint:
    """Host, port and credentials parsed out of `COLDCHAIN_MQTT_URL`."""

    def __init__(
        self, url: str, *, password: str | None = None, ca_file: Path | None = None
    ) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "mqtts"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = parts.username
        # A password from a secret file keeps it off command lines and out of `ps`.
        self.password = password if password is not None else parts.password
        # mqtts:// verifies the broker against this CA (a private one), else system CAs.
        self.ca_file = ca_file

    def __repr__(self) -> str:  # never print the password
        return f"MqttEndpoint({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"


class Settings(BaseSettings):
    """Everything a service needs to find the broker, the store, the catalog and its data.

    Read once by the CLI and passed down; nothing else reads the environment.
    """

    # hide_input_in_errors: a ValidationError's text would quote passwords (load() words it)
    model_config = SettingsConfigDict(
        env_prefix="COLDCHAIN_", extra="ignore", hide_input_in_errors=True
    )

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "coldchain"
    influx_username: str | None = None
    influx_password: str | None = None
    catalog_url: str | None = None
    data_dir: Path = Path("./var")

    # secrets and TLS; see docs/security.md
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate that signed the broker's (mqtts://)"
    )
    mqtt_password_file: Path | None = Field(
        default=None, description="file (mode 0600) holding the MQTT password of the URL's user"
    )
    influx_password_file: Path | None = Field(
        default=None, description="file (mode 0600) holding influx_password"
    )

    # ingest
    ingest_client_id: str = "coldchain-ingest-1"
    ingest_shared_group: str | None = Field(
        default=None, description="MQTT shared-subscription group; None for a single worker"
    )
    ingest_receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum: unacked messages the broker may send us",
    )
    ingest_max_payload_bytes: int = Field(
        default=262_144,
        ge=1024,
        description="larger MQTT payloads are dead letters (ingest) or skipped (detector); "
        "keep at deploy/mosquitto/mosquitto.conf's message_size_limit",
    )
    ingest_max_future_skew_s: float = Field(
        default=86_400.0, description="readings timed further ahead of now are dead letters"
    )
    ingest_downsample_period_s: float = Field(
        default=5.0,
        gt=0,
        description="how often ingest recomputes the downsampled buckets of the hours its "
        "writes touched, whatever the readings' age (the lag of every chart)",
    )
    ingest_downsample_wide_devices: int = Field(
        default=50,
        ge=1,
        description="an hour touched on this many devices is recomputed for all devices in "
        "one statement per resolution, fewer device by device",
    )
    spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)
    spool_segment_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)
    influx_batch_lines: int = Field(default=5000, ge=1)
    influx_timeout_s: float = Field(default=10.0, gt=0)
    metrics_interval_s: float = Field(default=5.0, gt=0)

    # detector (alerting/); see alerting/README.md
    detect_client_id: str = "coldchain-detect-1"
    detect_sites: list[str] = Field(
        default_factory=list,
        description="sites this detector partition watches (JSON list); empty: every site",
    )
    detect_receive_maximum: int = Field(default=1000, ge=1, le=65535)
    detect_reorder_window_s: float = Field(
        default=300.0, ge=0, description="readings this far behind a sensor's newest are merged"
    )
    detect_backfill_gap_s: float = Field(
        default=900.0, gt=0, description="a jump this far ahead starts a backfill (catch-up)"
    )
    detect_backfill_quiet_s: float = Field(
        default=2.0, ge=0, description="a backfill is evaluated once no more came for this long"
    )
    detect_default_alarm_delay_min: float = Field(default=30.0, ge=0)
    detect_warning_margin_c: float = Field(
        default=0.5, ge=0, description="alert (warning) limits lie this far inside the range"
    )
    detect_warning_delay_min: float = Field(default=10.0, ge=0)
    detect_hysteresis_c: float = Field(default=0.3, ge=0)
    detect_clear_after_min: float = Field(
        default=5.0, ge=0, description="time back in range (past the hysteresis) to clear"
    )
    detect_missing_after_min: float = Field(default=20.0, gt=0)
    detect_stuck_after_min: float = Field(default=60.0, gt=0)
    detect_stuck_min_readings: int = Field(default=10, ge=2)
    detect_error_values_c: list[float] = Field(default_factory=lambda: [-127.0, 85.0])
    detect_sensor_min_c: float = -100.0
    detect_sensor_max_c: float = 70.0
    detect_rate_c_per_min: float = Field(default=0.5, gt=0)
    detect_rate_window_min: float = Field(default=10.0, gt=0)
    detect_rate_sustain_min: float = Field(
        default=5.0, ge=0, description="a fast change must last this long (not a door opening)"
    )
    detect_forecast_window_min: float = Field(default=20.0, gt=0)
    detect_forecast_horizon_min: float = Field(default=45.0, gt=0)
    detect_forecast_min_r2: float = Field(default=0.9, ge=0, le=1)
    detect_low_battery_pct: float = Field(default=15.0, ge=0, le=100)
    detect_catalog_refresh_s: float = Field(default=60.0, gt=0)
    detect_catalog_reload_min_s: float = Field(
        default=1.0,
        ge=0,
        description="least time between two reloads announced by readings (catalog_changed); "
        "an announcement reloads only when the catalog's audit head moved",
    )
    detect_tick_s: float = Field(default=1.0, gt=0)
    detect_calibration_warn_days: float = Field(
        default=30.0,
        ge=0,
        description="a probe's calibration_due warning this long before its due date (the "
        "alarm at the date); checked every detect_catalog_refresh_s",
    )

    # notifications
    notify_min_severity: str = Field(
        default="alarm", pattern="^(warning|alarm)$", description="webhook/e-mail from this up"
    )
    notify_webhook_url: str | None = None
    notify_webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key")
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 25
    notify_smtp_from: str = "coldchain@localhost"
    notify_smtp_username: str | None = None
    notify_smtp_password: str | None = None
    notify_smtp_starttls: bool = False
    notify_smtp_implicit_tls: bool = Field(
        default=False, description="TLS from the first byte (smtps, usually port 465)"
    )
    notify_smtp_ca_file: Path | None = Field(
        default=None,
        description="CA certificate that signed the SMTP server's (STARTTLS or implicit "
        "TLS); default: the system's CAs. The host name is always checked",
    )
    notify_email_to: list[str] = Field(default_factory=list, description="contact level 0")
    notify_escalation: list[list[str]] = Field(
        default_factory=list, description="e-mail addresses of contact levels 1, 2, ..."
    )
    notify_escalate_after_min: float = Field(default=15.0, gt=0)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_retry_max_s: float = Field(default=60.0, gt=0)

    # API and web page (api/); see api/README.md
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_login_token_ttl_s: float = Field(
        default=3600.0, gt=0, le=86_400, description="lifetime of a token issued at login"
    )
    api_session_key_file: Path | None = Field(
        default=None,
        description="HMAC key of login tokens; default {data_dir}/keys/api-session.key",
    )
    api_login_window_s: float = Field(default=300.0, gt=0, description="rate-limit window")
    api_login_max_failures_per_user: int = Field(default=5, ge=1)
    api_login_max_attempts_per_client: int = Field(default=30, ge=1)
    api_login_max_backoff_s: float = Field(
        default=900.0,
        gt=0,
        description="longest back-off of an address that keeps failing for a user "
        "(1 s, doubling per failure past the free ones)",
    )
    api_login_slow_s: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="delay before checking a password of a user under attack "
        "(max failures per user reached in the window)",
    )
    api_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For "
        "names the client; empty: trust nobody, the peer is the client",
    )
    api_token_ttl_days: int = Field(
        default=90, ge=1, le=3650, description="lifetime of a new API token (cct_) by default"
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; empty: CORS closed"
    )
    api_live_lookback_s: float = Field(
        default=6 * 3600.0, gt=0, description="how far back the live view looks for a reading"
    )
    api_no_data_intervals: float = Field(
        default=3.0, gt=0, description="no reading for this many log intervals: status no data"
    )
    api_stream_interval_s: float = Field(default=2.0, gt=0, description="SSE poll period")
    api_live_cache_s: float = Field(
        default=1.0, ge=0, description="live and history answers shared per scope this long; 0: off"
    )
    api_auth_cache_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="a token's viewer reused this long: revocation takes effect within it",
    )
    api_history_cache_s: float = Field(
        default=10.0,
        ge=0,
        description="history query answers shared this long: a late reading shows in a chart "
        "within this plus ingest_downsample_period_s; 0: off",
    )
    api_max_buckets: int = Field(default=2000, ge=10, le=10_000)
    api_history_max_span_days: int = Field(
        default=3660,
        ge=1,
        description="the longest history range one request may ask for (a 400 beyond it)",
    )
    api_history_late_s: float = Field(
        default=600.0,
        gt=0,
        description="a raw history bucket holding a reading that arrived this long after the "
        "bucket ended is marked late (backfilled) in the history answer and the page's chart",
    )
    api_max_body_bytes: int = Field(
        default=65_536,
        ge=1024,
        description="a larger request body is refused with 413 before it is read",
    )
    api_body_timeout_s: float = Field(
        default=10.0, gt=0, description="a request body not received within this: 408"
    )
    api_max_streams_per_user: int = Field(
        default=4, ge=1, description="live streams (SSE) one user may hold open; more: 429"
    )
    api_max_streams: int = Field(
        default=1000, ge=1, description="live streams (SSE) open on one API process; more: 429"
    )
    api_max_exports_per_user: int = Field(
        default=2, ge=1, description="batch exports one user may run at once; more: 429"
    )
    api_deviation_scan_s: float = Field(
        default=60.0,
        ge=0,
        description="how often the API judges recently active batches and opens a deviation "
        "for each open finding none covers (api/deviation_watch.py); 0: never. Run it on one "
        "API process (single writer), 0 on the others",
    )
    api_budget_alert_thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 1.0],
        min_length=1,
        description="shares of a batch's stability budget consumed at which the deviation "
        "scan opens a `budget` alert (api/budget_watch.py): warning below 1.0, alarm at 1.0",
    )

    @field_validator("api_budget_alert_thresholds")
    @classmethod
    def _budget_shares(cls, value: list[float]) -> list[float]:
        """Each a share in (0, 1], none twice: the alert ids are made of them."""
        if any(not 0 < share <= 1 for share in value) or len(set(value)) != len(value):
            raise ValueError(f"expected distinct shares in (0, 1] such as 0.5, got {value}")
        return sorted(value)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        _check_url(value, ("mqtt", "mqtts"), "expected mqtt://host:port or mqtts://host:port")
        return value

    @field_validator("influx_url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        _check_url(value, ("http", "https"), "expected http://host:port or https://host:port")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _smtp_credentials_need_tls(self) -> Settings:
        """A password on a clear-text SMTP session is readable by anyone on the path."""
        credentials = self.notify_smtp_username or self.notify_smtp_password
        if credentials and not (self.notify_smtp_starttls or self.notify_smtp_implicit_tls):
            raise ValueError(
                "notify_smtp_username/notify_smtp_password need notify_smtp_starttls or "
                "notify_smtp_implicit_tls: credentials are never sent unencrypted"
            )
        return self

    @model_validator(mode="after")
    def _influx_password_from_file(self) -> Settings:
        if self.influx_password_file is not None and self.influx_password is None:
            self.influx_password = _secret_from_file(
                "influx_password_file", self.influx_password_file
            )
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        password = None
        if self.mqtt_password_file is not None:
            password = _secret_from_file("mqtt_password_file", self.mqtt_password_file)
        return MqttEndpoint(self.mqtt_url, password=password, ca_file=self.mqtt_ca_file)

    @property
    def resolved_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    @classmethod
    def load(cls, toml_path: Path | None = None, **overrides: Any) -> Settings:
        """Defaults < TOML file < `COLDCHAIN_*` environment < explicit overrides (CLI options)."""
        from_file: dict[str, Any] = {}
        if toml_path is not None:
            try:
                from_file = tomllib.loads(toml_path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"settings file {toml_path}: {exc}") from exc
        explicit = {key: value for key, value in overrides.items() if value is not None}
        try:
            from_env = cls(**explicit).model_dump(exclude_unset=True)
            return cls(**(from_file | from_env))
        except ValidationError as exc:
            # from None: the ValidationError's own text quotes every input, secrets included
            raise ConfigError(validation_summary(exc)) from None


def _check_url(value: str, schemes: tuple[str, ...], expected: str) -> None:
    """Scheme and port of a service URL checked when the settings load, not at the
    first connection; the message never quotes the URL (it may hold a password)."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError(f"{expected}: the port is not a number in 0-65535") from None
    if parts.scheme not in schemes:
        raise ValueError(f"{expected}: the scheme is {parts.scheme!r}")


def _secret_from_file(field: str, path: Path) -> str:
    """The first line of a secret file; the error names the field and path, not the content."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{field}: {path} is empty")
    return text.splitlines()[0].strip()
