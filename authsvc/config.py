"""Every setting of the service, declared once: type, default and help.

Values come from, in order of precedence: ``AUTHSVC_<SECTION>_<NAME>`` environment variables, the TOML
file named by ``AUTHSVC_CONFIG`` (or ``--config``; ``configs/default.toml`` when run from a checkout), then
the defaults below. ``authsvc config explain`` prints them all.
"""

from __future__ import annotations

import json
import os
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from authsvc.errors import AuthsvcError, ConfigError

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
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="0 = one process serves the API and runs the background jobs (the default); N = a supervisor "
        "with N pre-forked serving processes sharing the port and one process for the jobs (`serve --workers`). "
        "More than one needs PostgreSQL.",
    )
    jobs_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The process running only the jobs (`authsvc worker`, the jobs process of `serve --workers N`) "
        "answers GET /metrics and /healthz on this port of [server] host: scrape it as a target of its own (SMS "
        "sends, webhook deliveries, incidents, the audit chain). 0 = no port.",
    )
    shutdown_timeout_s: float = Field(
        60.0, gt=0, description="On SIGTERM, how long requests in flight may take to finish before they are cut."
    )
    jobs_grace_s: float = Field(
        5.0,
        ge=0,
        description="On SIGTERM, how long the background jobs may finish the sends in flight; what is left is handed "
        "back to the outbox at once (not after its lease).",
    )


class DatabaseSettings(_Section):
    dsn: str = Field(
        "sqlite:///var/authsvc.db",
        description="Database URL: sqlite:///path (embedded default) or postgresql://user@host/db.",
    )
    pool_size: int = Field(10, ge=1, description="PostgreSQL connection pool size per process.")
    busy_timeout_ms: int = Field(10_000, ge=0, description="SQLite: how long a writer waits for the lock.")


class KeySettings(_Section):
    backend: Literal["file", "pkcs11"] = Field(
        "file",
        description="Key store: 'file' (local key file, the embedded default) or 'pkcs11' (keys non-extractable "
        "on an HSM or token; see pkcs11_*).",
    )
    file: str = Field("var/keys/authsvc-keys.json", description="Local key file (created by `keys init`, 0600).")
    pkcs11_module: str = Field(
        "/usr/lib/softhsm/libsofthsm2.so", description="pkcs11 backend: path of the HSM vendor's PKCS#11 module."
    )
    pkcs11_token_label: str = Field("authsvc", description="pkcs11 backend: label of the token holding the keys.")
    pkcs11_pin_env: str = Field(
        "AUTHSVC_HSM_PIN",
        description="pkcs11 backend: environment variable holding the user PIN (never in a file here).",
    )
    pkcs11_pin_file: str | None = Field(
        None, description="pkcs11 backend: file holding the user PIN instead (0600), e.g. a mounted secret."
    )
    pkcs11_timeout_s: float = Field(
        5.0,
        gt=0,
        description="pkcs11 backend: how long a call waits for the HSM to finish another before answering 503.",
    )


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
    auth_failures_per_window: int = Field(
        20,
        ge=1,
        description=(
            "Failed authentications one source address may make per window and process; past it, its requests "
            "without a recently valid key are answered 429 before authentication."
        ),
    )
    auth_failure_window_s: int = Field(
        60,
        ge=1,
        description="Window of the failed-authentication throttle; failures are audited as one count per window.",
    )
    hosted_document_checks_per_window: int = Field(
        20,
        ge=1,
        description=(
            "Identity-document checks (POST /hosted/api/document) one hosted link's identification may ask per "
            "window (shared by all processes); each decodes and inspects an image or PDF of up to scan_max_bytes."
        ),
    )


class RegistrySettings(_Section):
    photo_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Largest registration photo.")
    photo_max_pixels: int = Field(25_000_000, ge=10_000, description="Largest photo in pixels (width×height).")
    photo_min_side: int = Field(240, ge=16, description="Smallest photo side in pixels.")
    scan_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest scanned document.")
    scans_max_count: int = Field(10, ge=1, description="Most scanned documents per legal entity.")
    photo_face_check: bool = Field(
        True, description="Judge the photo's face (one frontal face, mouth closed, eyes open, light background)."
    )
    photo_quality: dict[str, float] = Field(
        default_factory=dict, description="Overrides of liveness.quality.QualitySettings limits, by name."
    )


class AuditSettings(_Section):
    witness_file: str = Field(
        "var/keys/audit-witness.json",
        description="Where `audit verify` records the last verified head, to catch a later truncation.",
    )
    head_log: str = Field(
        "var/audit/heads.jsonl",
        description=(
            "Append-only file (0600, fsync'd) where every process writes each audit head it makes, outside the "
            "database; `audit verify` checks the chain against every head in it. Keep it off the database's disk."
        ),
    )


class FactorSettings(_Section):
    """Second factors and outside registries; the URLs default to `python -m simulators`."""

    sms_a_url: str = Field("http://127.0.0.1:8702", description="SMS gateway A (first choice).")
    sms_b_url: str = Field("http://127.0.0.1:8703", description="SMS gateway B (failover); empty = none.")
    telco_url: str = Field("http://127.0.0.1:8704", description="Mobile-operator subscriber check (R-108.1).")
    cdao_url: str = Field("http://127.0.0.1:8705", description="CDAO biometric identification (R-7.2).")
    bureau_url: str = Field("http://127.0.0.1:8706", description="Credit bureau (R-NB.6, R-NB.7).")
    bank_url: str = Field("http://127.0.0.1:8707", description="Account ownership check (R-NB.2).")
    upstream_timeout_s: float = Field(5.0, gt=0, description="Per-try time limit of a call to an outside party.")
    upstream_attempts: int = Field(2, ge=1, le=5, description="Tries of an idempotent outside call.")
    upstream_max_connections: int = Field(
        2000, ge=10, description="Open connections to outside parties at once (slow SMS gateways need many)."
    )
    sms_sender: str = Field("DemoMFO", description="SMS sender name (1-11 Latin letters or digits).")
    sms_receipt_secret: str = Field("", description="HMAC secret of SMS delivery receipts; empty = unsigned.")
    sms_callback_url: str = Field("", description="Where gateways POST delivery receipts; empty = none.")
    sms_poll_s: float = Field(0.5, gt=0, description="How often the SMS outbox worker looks for work.")
    otp_digits: int = Field(6, ge=6, le=8, description="Digits of an SMS code.")
    otp_ttl_s: int = Field(300, ge=30, description="Lifetime of an SMS code.")
    otp_max_attempts: int = Field(5, ge=1, description="Verify attempts allowed per code.")
    otp_resend_cooldown_s: int = Field(60, ge=0, description="Wait before another code to the same identification.")
    send_limit_per_client: int = Field(5, ge=1, description="Codes per client per send window.")
    send_limit_per_phone: int = Field(5, ge=1, description="Codes per phone number per send window.")
    send_limit_per_ip: int = Field(30, ge=1, description="Codes requested per caller IP per send window.")
    send_limit_per_lender: int = Field(10_000, ge=1, description="Codes per lender per send window.")
    send_window_s: int = Field(3600, ge=60, description="Length of the sending window (SMS pumping).")
    verify_limit_per_ip: int = Field(600, ge=1, description="Verifications per caller IP per minute.")
    verify_limit_per_client: int = Field(30, ge=1, description="Verifications per client per minute.")
    verify_free_failures: int = Field(3, ge=0, description="Wrong answers per client before delays start.")
    verify_delay_base_s: int = Field(2, ge=1, description="First delay after the free failures; doubles each time.")
    verify_delay_max_s: int = Field(900, ge=1, description="Longest delay (never a permanent lock-out).")
    factor_failure_limit: int = Field(
        10,
        ge=2,
        le=100,
        description="Consecutive wrong answers on one person's factor (any address, process or lender) before "
        "the factor is suspended (NIST SP 800-63B §5.2.2: at most 100).",
    )
    temporary_token_days: int = Field(7, ge=1, le=90, description="Lifetime of a lost token's temporary replacement.")
    totp_issuer: str = Field("authsvc", description="Issuer shown by authenticator apps (no ':').")
    hotp_look_ahead: int = Field(10, ge=0, le=100, description="HOTP counters accepted ahead of the next one.")
    telco_cache_ttl_s: int = Field(86_400, ge=0, description="How long a subscriber check is reused.")
    sim_swap_days: int = Field(30, ge=0, description="A SIM or holder change this recent is a risk signal.")
    password_min_length: int = Field(10, ge=8, description="Shortest password accepted (R-6.5).")
    password_max_length: int = Field(256, ge=64, description="Longest password accepted (never below 64).")
    argon2_time_cost: int = Field(2, ge=1, description="argon2id passes; a change rehashes at the next log-in.")
    argon2_memory_kib: int = Field(19 * 1024, ge=1024, description="argon2id memory in KiB.")
    argon2_parallelism: int = Field(1, ge=1, description="argon2id lanes.")


def _listish(value: Any) -> Any:
    """Environment values for list settings: JSON, or comma-separated text."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def ca_source_key(value: str) -> str:
    """A CA certificate source as the trust store keys it: a URL as written, a file as its resolved path
    (so ``nca/../nca/ca.cer`` and ``nca/ca.cer`` name the same certificate)."""
    return value if is_url(value) else str(resolve_path(value))


class CrlSourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="Complete CRL: an http(s) URL, or a local file as file:/path or file:relative/path.")
    delta_url: str | None = Field(None, description="Delta CRL (URL or file:), if the CA publishes one.")
    issuer: str = Field(
        description="The CA certificate that signs it: exactly one of the configured anchor/intermediate files "
        "(any spelling of the same path) or URLs; anything else fails the start."
    )

    @field_validator("url", "delta_url")
    @classmethod
    def _fetchable(cls, value: str | None) -> str | None:
        if value is not None and not (is_url(value) or value.startswith("file:")):
            raise ValueError(f"{value!r}: a CRL source is an http(s):// URL or a file: path")
        return value


class PkiSettings(_Section):
    """EDS verification: trust anchors pinned by certificate, revocation policy, CRL cache.

    The defaults trust nothing: a deployment names its anchors. configs/default.toml points
    at the NCA test-PKI simulator (`python -m simulators`, port 8701), whose CA certificates are fetched
    from its /cert/ URLs and retried in the background until it answers (/readyz reports not ready until
    then). Production lists NCA's roots by file (configs/production.example.toml).
    """

    anchor_files: list[str] = Field(default_factory=list, description="Trust anchors: PEM/DER files (pinned).")
    anchor_urls: list[str] = Field(
        default_factory=list,
        description="Trust anchors fetched at start-up. Plain http:// only with [security] test_pki (the "
        "simulator); never for real NCA roots.",
    )
    intermediate_files: list[str] = Field(default_factory=list, description="Intermediate CA files.")
    intermediate_urls: list[str] = Field(
        default_factory=list,
        description="Intermediate CA certificates fetched at start-up (path building also uses those in a CMS).",
    )
    trust_retry_s: float = Field(5.0, gt=0, description="Retry interval while the trust anchors cannot be loaded.")
    revocation_order: Literal["ocsp_then_crl", "crl_then_ocsp", "ocsp_only", "crl_only"] = Field(
        "ocsp_then_crl", description="Default revocation sources and their order."
    )
    hard_fail: bool = Field(True, description="No revocation answer makes a signature invalid (else: soft-fail).")
    ocsp_url: str = Field("", description="OCSP responder overriding the certificates' AIA (empty = use AIA).")
    ocsp_max_age_s: int = Field(900, ge=1, description="Oldest OCSP thisUpdate accepted (NCA sends no nextUpdate).")
    ocsp_cache_ttl_s: int = Field(300, ge=0, description="How long a verified OCSP answer is reused.")
    crl_sources: list[CrlSourceSettings] = Field(
        default_factory=list,
        description="CRLs kept fresh in the background (validated, indexed, saved under cache_dir).",
    )
    crl_refresh_s: int = Field(3600, ge=10, description="CRL refresh interval.")
    cache_dir: str = Field("var/pki", description="Where CRL indexes are kept across restarts.")
    http_timeout_s: float = Field(10.0, gt=0, description="Time limit of one OCSP/CA-certificate request.")
    test_mode_time_allowed: bool = Field(
        False, description="Let callers of /v1/eds/* pin the validation time (test PKI only; never in production)."
    )
    legal_entity_roles: list[str] = Field(
        default_factory=lambda: ["ceo", "sign", "sign_financial"],
        description="Roles (KZ-PKI.md §1) a legal entity's certificate needs to pass the EDS step.",
    )
    challenge_ttl_s: int = Field(300, ge=10, description="Lifetime of an EDS challenge.")
    allow_sha1: bool = Field(False, description="Accept SHA-1 certificate signatures (old NCA RSA certificates).")

    _lists = field_validator(
        "anchor_files",
        "anchor_urls",
        "intermediate_files",
        "intermediate_urls",
        "crl_sources",
        "legal_entity_roles",
        mode="before",
    )(_listish)

    @model_validator(mode="after")
    def _crl_issuers_are_configured_cas(self) -> PkiSettings:
        """A CRL whose issuer names no configured CA would never be used: refuse it."""
        known = {ca_source_key(s) for s in [*self.anchor_files, *self.anchor_urls]}
        known |= {ca_source_key(s) for s in [*self.intermediate_files, *self.intermediate_urls]}
        for number, source in enumerate(self.crl_sources):
            if ca_source_key(source.issuer) not in known:
                raise ValueError(
                    f"pki.crl_sources[{number}].issuer {source.issuer!r} is none of the configured CA certificates "
                    "(pki.anchor_files, anchor_urls, intermediate_files, intermediate_urls)"
                )
        return self


class LivenessStepSettings(_Section):
    script_duration_ms: int = Field(4000, ge=2000, le=15000, description="Length of the liveness script's recording.")
    script_ttl_s: int = Field(120, ge=10, description="How long after issue a capture for a script is accepted.")
    upload_max_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="Largest liveness upload (video or frames).")
    max_frames: int = Field(300, ge=8, description="Most frames in a frame-sequence upload.")
    media_retention_s: int = Field(
        86_400, ge=0, description="How long raw captures and best frames are kept (sealed) before deletion."
    )
    fingerprint_window_s: int = Field(
        30 * 86_400,
        ge=0,
        description="Compare a capture with every capture of the last N seconds (and all the client's).",
    )
    fingerprint_compare_limit: int = Field(20_000, ge=1, description="At most this many earlier captures compared.")


class FlowSettings(_Section):
    profiles_dir: str = Field(
        "configs/profiles", description="Folder of the regulatory profiles (*.toml); relative to the repository."
    )
    extra_profiles_dir: str = Field(
        "", description="A folder of the deployment's own profiles beside the regulatory ones (may extend them)."
    )
    default_profile: str = Field("res63-2021", description="Profile of an identification when nothing else names one.")
    lender_profiles: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Per lender id: {"*": profile, "<operation>": profile}; a request may still name its own.',
    )
    cooling_off: bool = Field(
        True, description="Apply a profile's cooling-off rule (payout not before the next day, R-NB.7)."
    )
    timezone: str = Field("Asia/Almaty", description="Where 'the next day' of the cooling-off rule is counted.")
    expiry_sweep_s: float = Field(5.0, gt=0, description="How often expired identifications are closed.")
    attestation_issuer: str = Field(
        "urn:authsvc", description="`iss` of the attestations: the service's public base URL in production."
    )
    use_within_s: int = Field(900, ge=60, description="How long after completing an identification may be used.")


class IncidentSettings(_Section):
    """Incidents (R-15.1, R-108.2), the grey and black lists, and the Anti-fraud centre (R-NB.8)."""

    calendar_file: str = Field(
        str(REPO_ROOT / "configs" / "calendar" / "kz.toml"),
        description="Working-day calendar (TOML: weekends, holidays, transferred days) deadlines are counted in.",
    )
    client_days: int = Field(1, ge=1, le=10, description="Business days to inform the client (R-15.1).")
    regulator_days: int = Field(1, ge=1, le=10, description="Business days to inform the regulator (R-15.1).")
    measures_days: int = Field(2, ge=1, le=10, description="Business days to remove causes and consequences (R-15.1).")
    deadline_near_s: int = Field(
        4 * 3600, ge=60, description="How long before a deadline the lender is warned (incident.deadline_near)."
    )
    housekeeping_s: float = Field(
        60.0, gt=0, description="How often overdue items are marked, warnings raised and AFC exports retried."
    )
    afc_url: str = Field("http://127.0.0.1:8708", description="Anti-fraud centre: list feed and incident intake.")
    afc_token: str = Field("", description="Bearer token for the Anti-fraud centre API; empty = none.")
    afc_poll_s: float = Field(60.0, gt=0, description="How often the AFC's national list feed is pulled.")
    afc_timeout_s: float = Field(5.0, gt=0, description="Per-try time limit of a call to the AFC.")
    afc_attempts: int = Field(2, ge=1, le=5, description="Tries of an AFC call.")


class WebhookSettings(_Section):
    """Lender callbacks (authsvc.webhooks): signed POSTs of events, retried from an outbox."""

    allow_http_loopback: bool = Field(
        False,
        description="Accept http:// endpoint URLs on 127.0.0.1, ::1 or localhost (tests and demos). Never on in "
        "production: every other URL must be https:// to a public host.",
    )
    poll_s: float = Field(1.0, gt=0, description="How often the webhook worker looks for due deliveries.")
    timeout_s: float = Field(10.0, gt=0, le=60, description="Time a lender's endpoint has to answer one delivery.")
    max_attempts: int = Field(12, ge=1, le=50, description="Tries of a delivery before it is marked dead.")
    backoff_s: float = Field(30.0, gt=0, description="Wait before the first retry; doubled on each further try.")
    max_backoff_s: float = Field(3600.0, gt=0, description="Longest wait between two tries (before jitter).")
    lease_s: float = Field(60.0, gt=0, description="How long a worker holds a claimed delivery; must exceed timeout_s.")
    concurrency: int = Field(32, ge=1, le=1000, description="Deliveries in flight at once per service process.")
    secret_grace_s: int = Field(
        86_400, ge=0, description="After a secret rotation, how long deliveries are also signed with the old one."
    )
    keep_days: int = Field(30, ge=1, description="How long finished deliveries stay readable in the history.")

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> WebhookSettings:
        if self.lease_s <= self.timeout_s:
            raise ValueError("webhooks.lease_s must exceed webhooks.timeout_s (or two workers could send one delivery)")
        return self


class HostedSettings(_Section):
    public_url: str = Field(
        "http://127.0.0.1:8080", description="The service's address as end users' browsers reach it (links point here)."
    )
    link_ttl_s: int = Field(900, ge=30, le=86_400, description="How long a hosted-page link can be opened (once).")
    session_ttl_s: int = Field(
        1800, ge=60, le=86_400, description="How long the browser session of an opened link lasts."
    )
    cookie_secure: bool = Field(
        True, description="Mark the page's session cookie Secure (off only for plain-HTTP tests)."
    )
    ncalayer_url: str = Field("wss://127.0.0.1:13579", description="NCALayer's local WebSocket the page signs through.")
    return_urls: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per lender id: URL prefixes a link's return_url may start with (none: no return URL allowed).",
    )


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    factors: FactorSettings = Field(default_factory=FactorSettings)
    pki: PkiSettings = Field(default_factory=PkiSettings)
    liveness: LivenessStepSettings = Field(default_factory=LivenessStepSettings)
    flows: FlowSettings = Field(default_factory=FlowSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    hosted: HostedSettings = Field(default_factory=HostedSettings)

    @model_validator(mode="after")
    def _anchors_over_https_unless_test_pki(self) -> Settings:
        """A root fetched over plain HTTP is whatever answers there: only the test-PKI simulator."""
        plain = [u for u in self.pki.anchor_urls if not u.startswith("https://")]
        if plain and not self.security.test_pki:
            raise ValueError(
                f"pki.anchor_urls (AUTHSVC_PKI_ANCHOR_URLS): {plain[0]!r} is not https; plain-HTTP trust anchors "
                "are only allowed with security.test_pki (the NCA simulator). Pin real roots with pki.anchor_files"
            )
        return self


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
        except AuthsvcError:
            raise
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from exc
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"config file {file}: [{section}] must be a table")
            raw.setdefault(section, {}).update(values)
    for section, name, info in _iter_fields():
        key = _env_name(section, name)
        if key in env:
            value: Any = env[key]
            if typing.get_origin(info.annotation) in (dict, list):  # tables and lists come as JSON
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ConfigError(f"{key} must be JSON: {exc}") from exc
            raw.setdefault(section, {})[name] = value
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
                default=info.get_default(call_default_factory=True),
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
