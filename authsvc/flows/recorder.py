"""Recording one step: what a method's try came to, and the rows that record it (the step, its device
signals, its audit entry), which the method writes in the same statement as its own change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from authsvc import metrics
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError
from authsvc.flows.signals import DeviceSignals
from authsvc.store import signals, steps
from authsvc.store.db import Chained, Written
from authsvc.store.identifications import Identification


@dataclass(frozen=True)
class Attempt:
    """What a method's try came to. ``written``: the method wrote the recorder's rows with its own change;
    ``error``: raised to the caller once the step is recorded and judged (e.g. a replay, a refusal)."""

    passed: bool
    details: Mapping[str, Any] = field(default_factory=dict)
    written: bool = False
    error: Exception | None = None


class StepRecorder:
    """The rows recording one step (the step, its signals, its audit entry) for either outcome; a method
    writes them together with its own change. ``details`` hold no personal data."""

    def __init__(
        self,
        keys: KeyStore,
        ident: Identification,
        method: str,
        details: Mapping[str, Any] | None = None,
        signals: DeviceSignals | None = None,
    ) -> None:
        self.keys, self.ident, self.method = keys, ident, method
        self.details: dict[str, Any] = dict(details or {})
        self.signals = signals
        self.step: steps.Step | None = None
        # The end the step decides alone, to write with it (`Flows.step` with ``first_step``); None: judged after.
        self.end_for: Callable[[steps.Step], Awaitable[Chained | None]] | None = None
        self.chained: Chained | None = None

    async def __call__(self, passed: bool, details: Mapping[str, Any] | None = None) -> list[Written]:
        # Async: the audit seal, the device's keyed hash and the signals' data key are made off the event
        # loop where the key store's device makes them.
        merged = {**self.details, **(details or {})}
        self.step, row = steps.row(self.ident.id, self.method, "passed" if passed else "failed", merged)
        entry = await audit.aentry(
            self.keys,
            AuditEvent.IDENTIFICATION_STEP,
            lender_id=self.ident.lender_id,
            subject=self.ident.id,
            details={"method": self.method, "outcome": self.step.outcome, **merged},
        )
        rows: list[Written] = [row, entry]
        if self.signals is not None:
            device_id = self.signals.device_id
            device_mac = await self.keys.aindex_mac("device", device_id) if device_id is not None else None
            rows.append(
                await signals.row(
                    self.keys, self.ident.id, self.method, self.signals.flags(), device_mac, self.signals.private()
                )
            )
        self.chained = await self.end_for(self.step) if self.end_for is not None else None
        if self.chained is not None:
            rows.append(self.chained)
        return rows

    def recorded(self) -> steps.Step:
        if self.step is None:
            raise RuntimeError("no step was recorded")
        return self.step


StepWork = Callable[[Identification, "StepRecorder"], Awaitable[Attempt]]


def count_step(step: steps.Step, error: BaseException | None = None) -> None:
    """Count a committed step: a failed one by its first reason, else by the error it answered."""
    reasons = list(step.details.get("reasons") or ())
    if not reasons and isinstance(error, AuthsvcError):
        reasons = [str(error.code)]
    metrics.step(step.method, step.outcome == "passed", reasons)
