"""Reading audit entries in tests: chained (``audit_log``) and still waiting for the chainer
(``audit_pending``) in one statement. Two SELECTs, one per table, race the chainer — a row it moves between
them is read twice or not at all — while one statement reads both in one snapshot on either database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CompoundSelect, Table, and_, true, union_all

from authsvc.store.schema import audit_log, audit_pending


def entries(*, event: str | None = None, subject: str | None = None) -> CompoundSelect[Any]:
    """Every audit entry named ``event`` about ``subject`` (either may be left out), columns
    event, subject, details, chained or waiting."""

    def part(table: Table) -> Any:
        where = and_(
            true(),
            *([table.c.event == event] if event is not None else []),
            *([table.c.subject == subject] if subject is not None else []),
        )
        return table.select().with_only_columns(table.c.event, table.c.subject, table.c.details).where(where)

    return union_all(part(audit_pending), part(audit_log))
