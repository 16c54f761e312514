"""Tamper-evident audit log (R-12.1): hash chain, signatures, verification."""

from authsvc.audit.chain import Entry, Finding, Head, VerifyReport, verify_chain
from authsvc.audit.events import AuditEvent

__all__ = ["AuditEvent", "Entry", "Finding", "Head", "VerifyReport", "verify_chain"]
