from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layers_tui.api.retry import (
    POLLER_BACKOFF,
    USER_ACTION_BACKOFF,
    Backoff,
    is_retryable_status,
    parse_retry_after,
    retry_wait,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("2.5", 2.5),
        (" 7 ", 7.0),
        ("Fri, 20 Nov 2026 12:00:20 GMT", 20.0),
        ("0", None),
        ("-5", None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e309", None),
        ("9" * 35, None),
        ("Fri, 20 Nov 2026 11:59:50 GMT", None),
        ("Fri, 20 Nov 100000 12:00:00 GMT", None),
        ("Blursday, 99 Nov 2026 12:00:00 GMT", None),
        ("３", 3.0),
        ("ünïcode", None),
        (None, None),
        ("100000", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


@given(st.text(max_size=80))
def test_retry_after_never_raises_and_is_finite(value):
    parsed = parse_retry_after(value, NOW)
    assert parsed is None or (math.isfinite(parsed) and 0 < parsed <= 86_400)


def test_backoff_schedule_with_jitter_pinned():
    delays = [USER_ACTION_BACKOFF.delay(n, lambda low, high: high) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    poller = [POLLER_BACKOFF.delay(n, lambda low, high: high) for n in range(1, 6)]
    assert poller == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert Backoff().delay(10_000) <= 8.0  # no overflow


def test_backoff_real_jitter_stays_in_band_and_varies():
    samples = [USER_ACTION_BACKOFF.delay(3) for _ in range(200)]
    assert all(1.5 <= s <= 2.0 for s in samples)
    assert len(set(samples)) > 1


def test_hostile_jitter_cannot_break_the_cap():
    assert Backoff().delay(2, lambda low, high: float("nan")) == 1.0
    assert Backoff().delay(2, lambda low, high: 50.0) == 1.0


def test_retryable_statuses_and_codes():
    assert all(is_retryable_status(s, None) for s in (408, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s, None) for s in (400, 401, 403, 404, 409, 422))
    assert not is_retryable_status(503, "KILL_SWITCH")
    assert not is_retryable_status(409, "IDEMPOTENCY_CONFLICT")
    assert is_retryable_status(500, "QUOTA_EXCEEDED")


def test_retry_wait():
    assert retry_wait(None, 0.5, 8) == 0.5
    assert retry_wait(3, 0.5, 8) == 3
    assert retry_wait(0.1, 1.0, 8) == 1.0
    assert retry_wait(120, 0.5, 8) is None
