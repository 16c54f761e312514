"""What one process runs (its role) and, for each role, which of the application's start-up steps it enters."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What one process runs."""

    ALL = "all"  # `authsvc serve`: the API and the background jobs (the default)
    API = "api"  # `serve --no-jobs`, each serving process of `serve --workers N`: the API only
    JOBS = "jobs"  # `authsvc worker`, the jobs process of `serve --workers N`: the jobs only, no HTTP


# The start-up steps, in order (each the name of its cleanup_ctx and of its `StartupHook` call). A role runs
# them all but those of the other side (`_NOT_IN`): the serving processes keep what requests use in memory
# (the pool, the CRL cache, the rate limiter), the jobs what must run once, and the bells between processes
# exist only where the roles are split.
ORDER = (
    "engine",
    "database",
    "bells",
    "keys",
    "executor",
    "registry",
    "factors",
    "pki",
    "methods",
    "flows",
    "sms",
    "incidents",
    "webhooks",
    "audit",
    "rewrap",
    "rate_limiter",
    "housekeeping",
    "listener",
)
_SERVING_ONLY = frozenset({"executor", "registry", "pki", "methods", "rate_limiter"})
_JOBS_ONLY = frozenset({"sms", "rewrap", "housekeeping", "listener"})
_NOT_IN: dict[Role, frozenset[str]] = {
    Role.ALL: frozenset({"bells", "listener"}),
    Role.API: _JOBS_ONLY,
    Role.JOBS: _SERVING_ONLY,
}
STEPS: dict[Role, tuple[str, ...]] = {role: tuple(s for s in ORDER if s not in _NOT_IN[role]) for role in Role}
