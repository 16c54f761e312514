"""Every setting of the service, declared once: type, default and help.

Values come from, in order of precedence: ``AUTHSVC_<SECTION>_<NAME>`` environment variables, the TOML
file named by ``AUTHSVC_CONFIG`` (or ``--config``; ``configs/default.toml`` when run from a checkout), then
the defaults below. ``authsvc config explain`` prints them all.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from authsvc.errors import ConfigError

ENV_PREFIX = "AUTHSVC_"
REPO_ROOT = Path(__file__).resolve().parent.parent


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP server.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted; larger ones get 413."
    )
    process_workers: int = Field(
        0, ge=0, description="Size of the process pool for CPU-heavy work (0 = number of cores)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_json: bool = Field(True, description="Write logs as one JSON object per line.")


class DatabaseSettings(_Section):
    dsn: str = Field(
        "sqlite:///var/authsvc.db",
        description="Database URL: sqlite:///path (embedded default) or postgresql://user@host/db.",
    )
    pool_size: int = Field(10, ge=1, description="PostgreSQL connection pool size per process.")
    busy_timeout_ms: int = Field(10_000, ge=0, description="SQLite: how long a writer waits for the lock.")


class KeySettings(_Section):
    backend: Literal["file"] = Field(
        "file", description="Key store: 'file' (local key file). The PKCS#11/HSM store plugs in here."
    )
    file: str = Field("var/keys/authsvc-keys.json", description="Local key file (created by `keys init`, 0600).")


class SecuritySettings(_Section):
    test_pki: bool = Field(
        False,
        description="Accept the NCA test-PKI identifiers that fail the IIN/BIN check digit (recorded on the "
        "client). Never on in production.",
    )
    api_key_cache_s: float = Field(
        5.0, ge=0, description="How long a process may reuse a looked-up API key before asking the database."
    )
    idempotency_ttl_s: int = Field(86_400, ge=60, description="How long an Idempotency-Key is remembered.")


class RateLimitSettings(_Section):
    requests_per_window: int = Field(
        6000, ge=1, description="Requests one lender may make per window (shared by all processes)."
    )
    window_s: int = Field(60, ge=1, description="Length of the rate-limit window in seconds.")


class RegistrySettings(_Section):
    photo_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Largest registration photo.")
    photo_max_pixels: int = Field(25_000_000, ge=10_000, description="Largest photo in pixels (width×height).")
    photo_min_side: int = Field(240, ge=16, description="Smallest photo side in pixels.")
    scan_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest scanned document.")
    scans_max_count: int = Field(10, ge=1, description="Most scanned documents per legal entity.")


class AuditSettings(_Section):
    witness_file: str = Field(
        "var/keys/audit-witness.json",
        description="Where `audit verify` records the last verified head, to catch a later truncation.",
    )


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)


@dataclass(frozen=True)
class SettingInfo:
    """One setting as `config explain` shows it."""

    section: str
    name: str
    env: str
    type: str
    default: Any
    value: Any
    help: str


def _env_name(section: str, name: str) -> str:
    return f"{ENV_PREFIX}{section}_{name}".upper()


def _iter_fields() -> Iterator[tuple[str, str, Any]]:
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for name, info in model.model_fields.items():
            yield section, name, info


def default_config_file() -> Path | None:
    """The checkout's ``configs/default.toml`` if present."""
    path = REPO_ROOT / "configs" / "default.toml"
    return path if path.is_file() else None


def load_settings(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build the settings: defaults < TOML file < environment < ``overrides`` ({section: {name: value}})."""
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {}
    file = Path(path) if path is not None else (Path(env["AUTHSVC_CONFIG"]) if "AUTHSVC_CONFIG" in env else None)
    if file is None:
        file = default_config_file()
    if file is not None:
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from exc
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"config file {file}: [{section}] must be a table")
            raw.setdefault(section, {}).update(values)
    for section, name, _info in _iter_fields():
        key = _env_name(section, name)
        if key in env:
            raw.setdefault(section, {})[name] = env[key]
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc


SECRET_HINTS = ("password", "secret", "token")


def explain(settings: Settings) -> list[SettingInfo]:
    """Every setting with its environment variable, type, default, current value and help."""
    out = []
    for section, name, info in _iter_fields():
        value = getattr(getattr(settings, section), name)
        if any(h in name for h in SECRET_HINTS) or (section == "database" and name == "dsn" and "@" in str(value)):
            value = _redact(str(value))
        out.append(
            SettingInfo(
                section=section,
                name=name,
                env=_env_name(section, name),
                type=getattr(info.annotation, "__name__", str(info.annotation)),
                default=info.default,
                value=value,
                help=info.description or "",
            )
        )
    return out


def _redact(value: str) -> str:
    # postgresql://user:pw@host/db -> postgresql://user:***@host/db
    if "://" in value and "@" in value:
        scheme, rest = value.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in cred else value
    return "***"


def resolve_path(value: str) -> Path:
    """Relative paths in settings are taken from the current directory."""
    return Path(value).expanduser().resolve()
