"""The working-day calendar incident deadlines are counted in (R-15.1), read from a TOML data file.

`configs/calendar/kz.toml` holds Kazakhstan's weekends, public holidays, the days off that replace holidays
falling on a weekend, and the Government's transfers (a day off moved onto a working day and a weekend day
made a working day). Nothing about the calendar is code: a new year is a new block in the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from authsvc.errors import ConfigError

MAX_DAYS_SEARCHED = 366  # a calendar with no working day in a year is a broken file, not a long holiday


@dataclass(frozen=True)
class Deadline:
    """The end of a working day: ``due_on`` (local date) and ``due_at`` (the instant it ends, exclusive)."""

    due_on: date
    due_at: datetime


@dataclass(frozen=True)
class WorkingCalendar:
    weekend: frozenset[int]  # ISO weekdays
    zone: timezone
    holidays: dict[date, str]
    days_off: dict[date, str]  # weekdays that are not worked (holiday moved off a weekend, transfers)
    working_days: dict[date, str]  # weekend days that are worked (transfers)
    covers: tuple[date, date]

    def is_working(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.holidays or day in self.days_off:
            return False
        return day.isoweekday() not in self.weekend

    def covered(self, day: date) -> bool:
        return self.covers[0] <= day <= self.covers[1]

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def after(self, day: date, working_days: int) -> date:
        """The ``working_days``-th working day after ``day`` (``day`` itself never counts)."""
        found, current = 0, day
        for _ in range(MAX_DAYS_SEARCHED * max(1, working_days)):
            current += timedelta(days=1)
            if self.is_working(current):
                found += 1
                if found == working_days:
                    return current
        raise ConfigError(f"the working-day calendar has no {working_days} working days after {day}")

    def deadline(self, detected_at: datetime, working_days: int) -> Deadline:
        """Within ``working_days`` business days of ``detected_at``: until the end of the N-th working day
        after the local day it was detected on."""
        due_on = self.after(self.local_day(detected_at), working_days)
        end = datetime.combine(due_on + timedelta(days=1), time(0), self.zone)
        return Deadline(due_on, end.astimezone(UTC))


def _offset(value: Any, where: str) -> timezone:
    if not isinstance(value, str) or len(value) != 6 or value[0] not in "+-" or value[3] != ":":
        raise ConfigError(f"{where}: utc_offset must look like +05:00")
    try:
        hours, minutes = int(value[1:3]), int(value[4:6])
    except ValueError as exc:
        raise ConfigError(f"{where}: utc_offset must look like +05:00") from exc
    sign = 1 if value[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _days(data: dict[str, Any], table: str, label: str, where: str) -> dict[date, str]:
    out: dict[date, str] = {}
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: [[{table}]] must be an array of tables")
    for number, entry in enumerate(entries):
        day, text = (entry.get("date"), entry.get(label)) if isinstance(entry, dict) else (None, None)
        if not isinstance(day, date) or isinstance(day, datetime) or not isinstance(text, str) or not text:
            raise ConfigError(f"{where}: {table}[{number}] needs a date (YYYY-MM-DD) and a {label}")
        if day in out:
            raise ConfigError(f"{where}: {table} lists {day} twice")
        out[day] = text
    return out


def load_calendar(path: str | Path) -> WorkingCalendar:
    """Read and check a calendar file; any mistake is a ConfigError naming the file and the entry."""
    where = str(path)
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the working-day calendar {where}: {exc}") from exc
    weekend = data.get("weekend", [6, 7])
    if not isinstance(weekend, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in weekend):
        raise ConfigError(f"{where}: weekend must list ISO weekdays 1-7")
    covers = data.get("covers")
    if not (
        isinstance(covers, list)
        and len(covers) == 2
        and all(isinstance(d, date) and not isinstance(d, datetime) for d in covers)
        and covers[0] <= covers[1]
    ):
        raise ConfigError(f"{where}: covers must be [first date, last date]")
    holidays = _days(data, "holiday", "name", where)
    days_off = _days(data, "day_off", "reason", where)
    working = _days(data, "working_day", "reason", where)
    both = set(working) & (set(holidays) | set(days_off))
    if both:
        raise ConfigError(f"{where}: {min(both)} is both a working day and a day off")
    outside = [d for d in (*holidays, *days_off, *working) if not covers[0] <= d <= covers[1]]
    if outside:
        raise ConfigError(f"{where}: {min(outside)} is outside covers")
    return WorkingCalendar(
        weekend=frozenset(weekend),
        zone=_offset(data.get("utc_offset", "+00:00"), where),
        holidays=holidays,
        days_off=days_off,
        working_days=working,
        covers=(covers[0], covers[1]),
    )
