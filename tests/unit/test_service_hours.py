"""Office hours: open or closed at a given instant in the tenant's time zone; bad settings refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat.contact import check_contact
from chat.service_hours import ServiceSettings, is_open, validate
from core.errors import ValidationFailed

SHANGHAI = validate(
    ServiceSettings(),
    {
        "office_hours_enabled": True,
        "timezone": "Asia/Shanghai",
        "hours": {"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["10:00-24:00"]},
    },
)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 12, 7, 1, 0, tzinfo=UTC), True),  # Monday 09:00 in Shanghai: opens
        (datetime(2026, 12, 7, 0, 59, tzinfo=UTC), False),  # Monday 08:59
        (datetime(2026, 12, 7, 4, 30, tzinfo=UTC), False),  # Monday 12:30, lunch
        (datetime(2026, 12, 7, 9, 59, tzinfo=UTC), True),  # Monday 17:59
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), False),  # Monday 18:00: closed
        (datetime(2026, 12, 8, 2, 0, tzinfo=UTC), True),  # Tuesday 10:00: days not given keep 09-18
        (datetime(2026, 12, 13, 4, 0, tzinfo=UTC), False),  # Sunday noon: no hours
        (datetime(2026, 12, 12, 15, 59, tzinfo=UTC), True),  # Saturday 23:59
        (datetime(2026, 12, 12, 16, 0, tzinfo=UTC), False),  # Sunday 00:00
    ],
)
def test_office_hours_follow_the_tenants_clock(utc, expected) -> None:
    assert is_open(SHANGHAI, utc) is expected


def test_without_office_hours_someone_is_always_there() -> None:
    assert is_open(ServiceSettings(), datetime(2026, 12, 13, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"hours": {"mon": ["9-18"]}}, "not a span like"),
        ({"hours": {"mon": ["18:00-09:00"]}}, "ends before it starts"),
        ({"hours": {"funday": []}}, "must map days"),
        ({"hours": {"mon": ["24:00-24:30"]}}, "not a span like"),
        ({"office_hours_enabled": "yes"}, "true or false"),
        ({"colour": "red"}, "Unknown service settings: colour"),
    ],
)
def test_bad_settings_say_what_to_fix(changes, message) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate(ServiceSettings(), changes)


@pytest.mark.parametrize(
    ("email", "phone", "message"),
    [
        (None, None, "Leave an email address or a phone number"),
        ("  ", "", "Leave an email address or a phone number"),
        ("ada@", None, "like name@example.com"),
        ("ada example@x.org", None, "like name@example.com"),
        (None, "call me", "phone must be a phone number"),
        (None, "+1 2", "phone must be a phone number"),
        (42, None, "must be text"),
    ],
)
def test_contacts_must_be_reachable(email, phone, message) -> None:
    with pytest.raises(ValidationFailed, match=message):
        check_contact(email, phone)


def test_good_contacts_are_trimmed() -> None:
    assert check_contact(" ada@example.org ", None) == ("ada@example.org", None)
    assert check_contact(None, "+86 138-0013-8000") == (None, "+86 138-0013-8000")
