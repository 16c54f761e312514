"""Business metrics (issue 15): what happened to identifications, steps, signatures, liveness captures, one-time
codes, outside parties and the audit chain, counted where it happens.

Each is a counter, gauge or histogram in this process's memory: recording one costs a dictionary look-up and
an addition, never a round trip. They live in `REGISTRY`, which ``GET /metrics`` exposes beside the app's
HTTP metrics (`authsvc.api.middlewares.HttpMetrics`) and the CRL gauges read at scrape time
(`authsvc.pki.crl_sources.CrlMetrics`). Like loggers they are module-level: the layers that record them
below the API take no metrics object in their constructors.

Naming follows Prometheus' conventions (`tests/api/test_metrics.py` lints the exposition as ``promtool check
metrics`` would): an ``authsvc_`` prefix, snake_case, counters ending ``_total``, base units (``_seconds``,
``_bytes``), and labels of bounded sets only — operations, profiles, methods, outcomes, error codes and
reason names; never an id, an address, a phone or a URL. A value that is not a plain lower-case name is
counted as ``other`` (`name`), so an unexpected string cannot grow a family without bound.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


def name(value: object) -> str:
    """``value`` as a label value when it is a plain name (a code, an enum value), else ``other``."""
    text = str(value)
    return text if _NAME.match(text) else "other"


# --- identifications and their steps (authsvc.flows) ---------------------------------------------------------
IDENTIFICATIONS_OPENED = Counter(
    "authsvc_identifications_opened_total",
    "Identifications opened, by operation and regulatory profile",
    ["operation", "profile"],
    registry=REGISTRY,
)
IDENTIFICATIONS_ENDED = Counter(
    "authsvc_identifications_total",
    "Identifications ended, by operation, regulatory profile and outcome (completed, failed, expired)",
    ["operation", "profile", "outcome"],
    registry=REGISTRY,
)
STEPS = Counter(
    "authsvc_identification_steps_total",
    "Identification steps recorded, by method, outcome (passed, failed) and reason (the first reason or error "
    "code of a failed step; none for a passed one)",
    ["method", "outcome", "reason"],
    registry=REGISTRY,
)

# --- electronic signatures (authsvc.pki) ----------------------------------------------------------------------
EDS_VERDICTS = Counter(
    "authsvc_eds_verdicts_total",
    "EDS verifications, by what was verified (cms, xml, certificate), verdict (valid, invalid) and reason "
    "(the first reason of an invalid verdict; none for a valid one)",
    ["kind", "verdict", "reason"],
    registry=REGISTRY,
)

# --- liveness (authsvc.methods.liveness) --------------------------------------------------------------------
LIVENESS_DECISIONS = Counter(
    "authsvc_liveness_decisions_total",
    "Liveness captures judged, by decision (passed, refused, unusable: the capture could not be judged)",
    ["decision"],
    registry=REGISTRY,
)
LIVENESS_FAILED_CHECKS = Counter(
    "authsvc_liveness_failed_checks_total",
    "Reasons a liveness capture was refused, one per failing check or reason of each refused capture",
    ["check"],
    registry=REGISTRY,
)

# --- one-time codes (authsvc.methods.otp, tokens, sms_queue) --------------------------------------------------
OTP_ISSUED = Counter(
    "authsvc_otp_codes_issued_total",
    "One-time codes created and queued, by channel (sms, voice) and purpose (identification, contract)",
    ["channel", "purpose"],
    registry=REGISTRY,
)
OTP_VERIFICATIONS = Counter(
    "authsvc_otp_verifications_total",
    "One-time code verifications, by factor (sms, voice, totp, hotp, contract) and outcome (accepted, rejected, "
    "duplicate, limited, suspended)",
    ["factor", "outcome"],
    registry=REGISTRY,
)
OUTBOX_SENDS = Counter(
    "authsvc_sms_outbox_sends_total",
    "Messages of the SMS outbox handed to a gateway or a call, by kind (otp, contract_otp, voice_code, notices) "
    "and outcome (sent, retried, failed, expired)",
    ["kind", "outcome"],
    registry=REGISTRY,
)

# --- the jobs: lenders' webhooks, incidents to the AFC (authsvc.webhooks.worker, authsvc.incidents.worker) -------
WEBHOOK_DELIVERIES = Counter(
    "authsvc_webhook_deliveries_total",
    "Tries to deliver a webhook to a lender, by outcome (delivered, retried: another try is queued, dead: the last "
    "try failed)",
    ["outcome"],
    registry=REGISTRY,
)
INCIDENT_EXPORTS = Counter(
    "authsvc_incident_exports_total",
    "Incidents offered to the Anti-fraud centre, by outcome (exported, refused, unavailable: retried next round)",
    ["outcome"],
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "authsvc_job_round_failures_total",
    "Rounds of a background job that failed unexpectedly (logged with the error), by job",
    ["job"],
    registry=REGISTRY,
)

# --- outside parties (authsvc.parties) ------------------------------------------------------------------------
UPSTREAM_REQUESTS = Counter(
    "authsvc_upstream_requests_total",
    "Requests to outside parties (retries included in one), by party and outcome (ok, client_error, "
    "upstream_timeout, upstream_unreachable, upstream_bad_response)",
    ["party", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "authsvc_upstream_retries_total",
    "Retries of requests to outside parties, by party",
    ["party"],
    registry=REGISTRY,
)
UPSTREAM_SECONDS = Histogram(
    "authsvc_upstream_request_duration_seconds",
    "Time a request to an outside party took, retries included, by party",
    ["party"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

# --- the audit chain (authsvc.audit.chainer) ------------------------------------------------------------------
AUDIT_CHAIN_LAG = Gauge(
    "authsvc_audit_chain_lag_seconds",
    "Age of the oldest audit entry the chainer found waiting in its last round (0: none waited)",
    registry=REGISTRY,
)
AUDIT_CHAINED = Counter(
    "authsvc_audit_entries_chained_total",
    "Audit entries linked into the hash chain by this process",
    registry=REGISTRY,
)
AUDIT_CHAIN_ROUND = Gauge(
    "authsvc_audit_chain_last_round_timestamp_seconds",
    "When this process's chainer last completed a round (Unix time): a stalled chainer stops moving it",
    registry=REGISTRY,
)

# --- the service's keys (authsvc.store.rotation) --------------------------------------------------------------
KEYS_REWRAP_REMAINING = Gauge(
    "authsvc_keys_rewrap_remaining",
    "Data keys still wrapped under an older key-encryption key, as this process's re-wrap job last counted",
    registry=REGISTRY,
)
KEYS_REWRAPPED = Counter(
    "authsvc_keys_rewrapped_total",
    "Data keys this process re-wrapped under the current key-encryption key after a rotation",
    registry=REGISTRY,
)


def step(method: str, passed: bool, reasons: Iterable[object] = ()) -> None:
    """One identification step recorded."""
    reason = next(iter(reasons), None) if not passed else None
    STEPS.labels(name(method), "passed" if passed else "failed", "none" if reason is None else name(reason)).inc()


def eds_verdict(kind: str, valid: bool, reasons: Iterable[object]) -> None:
    first = next(iter(reasons), None)
    reason = "none" if valid else ("unspecified" if first is None else name(first))
    EDS_VERDICTS.labels(kind, "valid" if valid else "invalid", reason).inc()


def upstream(party: str, outcome: str, seconds: float, retries: int) -> None:
    """One request to an outside party ended (``outcome``: ok, client_error or the error code)."""
    label = name(party)
    UPSTREAM_REQUESTS.labels(label, name(outcome)).inc()
    UPSTREAM_SECONDS.labels(label).observe(seconds)
    if retries:
        UPSTREAM_RETRIES.labels(label).inc(retries)


def audit_round(chained: int, oldest_waiting_age_s: float) -> None:
    AUDIT_CHAINED.inc(chained)
    AUDIT_CHAIN_LAG.set(max(0.0, oldest_waiting_age_s))
    AUDIT_CHAIN_ROUND.set(time.time())
