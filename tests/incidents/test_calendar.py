"""The working-day calendar on real Kazakhstan dates of 2025 and 2026 (configs/calendar/kz.toml, R-15.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from authsvc.config import load_settings
from authsvc.errors import ConfigError
from authsvc.incidents.calendar import WorkingCalendar, load_calendar

ALMATY = timezone(timedelta(hours=5))


@pytest.fixture(scope="module")
def kz() -> WorkingCalendar:
    return load_calendar(load_settings(None, env={}).incidents.calendar_file)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 2), False),  # New Year
        (date(2025, 1, 3), False),  # transferred day off (Minister of Labour's order)
        (date(2025, 1, 5), True),  # a Sunday worked for it
        (date(2025, 1, 7), False),  # Orthodox Christmas
        (date(2025, 3, 10), False),  # 8 March fell on Saturday
        (date(2025, 3, 21), False),  # Nauryz
        (date(2025, 3, 24), False),  # Nauryz days that fell on the weekend
        (date(2025, 3, 25), False),
        (date(2025, 3, 26), True),
        (date(2025, 6, 6), False),  # Kurban ait, first day
        (date(2025, 10, 27), False),  # Republic Day fell on Saturday
        (date(2025, 12, 16), False),  # Independence Day
        (date(2025, 12, 17), True),
        (date(2026, 1, 5), True),  # no transfer in January 2026
        (date(2026, 3, 9), False),
        (date(2026, 3, 20), True),  # the Friday before Nauryz
        (date(2026, 3, 23), False),
        (date(2026, 3, 25), False),
        (date(2026, 3, 26), True),
        (date(2026, 5, 11), False),  # Victory Day fell on Saturday
        (date(2026, 5, 27), False),  # Kurban ait
        (date(2026, 8, 31), False),
        (date(2026, 10, 26), False),
        (date(2026, 12, 16), False),
        (date(2026, 12, 19), False),  # an ordinary Saturday
    ],
)
def test_working_days_of_2025_and_2026(kz: WorkingCalendar, day: date, working: bool) -> None:
    assert kz.is_working(day) is working


def test_friday_20_march_2026_counts_past_nauryz(kz: WorkingCalendar) -> None:
    found = datetime(2026, 3, 20, 16, 30, tzinfo=ALMATY)
    one, two = kz.deadline(found, 1), kz.deadline(found, 2)
    assert (one.due_on, two.due_on) == (date(2026, 3, 26), date(2026, 3, 27))
    # The day ends at local midnight: 19:00 UTC.
    assert one.due_at == datetime(2026, 3, 26, 19, 0, tzinfo=UTC)


def test_the_transferred_sunday_of_january_2025_is_a_business_day(kz: WorkingCalendar) -> None:
    found = datetime(2025, 1, 2, 9, 0, tzinfo=ALMATY)
    assert kz.deadline(found, 1).due_on == date(2025, 1, 5)
    assert kz.deadline(found, 2).due_on == date(2025, 1, 6)
    assert kz.after(date(2025, 1, 6), 1) == date(2025, 1, 8)  # 7 January is Christmas


def test_independence_day_and_the_local_date(kz: WorkingCalendar) -> None:
    # 15 December 2025, 23:30 in Almaty is still the 15th locally although it is the 15th 18:30 UTC.
    found = datetime(2025, 12, 15, 18, 30, tzinfo=UTC)
    assert kz.deadline(found, 1).due_on == date(2025, 12, 17)
    # 20:00 UTC is already the 16th (a holiday) in Almaty: counting starts from the 16th.
    late = datetime(2025, 12, 15, 20, 0, tzinfo=UTC)
    assert kz.deadline(late, 1).due_on == date(2025, 12, 17)
    assert kz.deadline(late, 2).due_on == date(2025, 12, 18)


def test_outside_the_file_only_weekends_count(kz: WorkingCalendar) -> None:
    assert not kz.covered(date(2027, 1, 4))
    assert kz.deadline(datetime(2027, 1, 8, 12, tzinfo=ALMATY), 1).due_on == date(2027, 1, 11)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("covers = [2025-01-01]", "covers"),
        ('covers = [2025-01-01, 2025-12-31]\n[[holiday]]\ndate = 2026-01-01\nname = "x"', "outside covers"),
        ('covers = [2025-01-01, 2025-12-31]\n[[holiday]]\ndate = "2025-01-01"\nname = "x"', "needs a date"),
        (
            'covers = [2025-01-01, 2025-12-31]\n[[holiday]]\ndate = 2025-01-04\nname = "x"\n'
            '[[working_day]]\ndate = 2025-01-04\nreason = "y"',
            "both a working day and a day off",
        ),
        ('covers = [2025-01-01, 2025-12-31]\nutc_offset = "5"', "utc_offset"),
        ("covers = [", "cannot read"),
    ],
)
def test_a_broken_calendar_file_is_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cal.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_calendar(path)
