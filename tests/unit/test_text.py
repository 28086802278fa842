from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layers_tui.text import is_clean, safe, safe_data

HOSTILE = [
    "[bold red]ADMIN",
    "[@click=app.quit]x[/]",
    "[link=https://evil.example]support[/link]",
    "[/]",
    "[/",
    "[",
    "a\\",
    "[type=x, v={'a[0]'}]",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_markup_is_left_as_typed(value):
    assert safe(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\x1b]52;c;aGk=\x1b\\", "␛]52;c;aGk=␛\\"),
        ("\x1b[2J\x1b[H", "␛[2J␛[H"),
        ("ok\rFAKE", "ok␍FAKE"),
        ("bell\x07", "bell␇"),
        ("\x9b31m", "\\u009b31m"),
        ("abc\u202edef", "abc\\u202edef"),
        ("line\nbreak", "line␊break"),
        ("del\x7f", "del␡"),
    ],
)
def test_controls_become_visible_stand_ins(value, expected):
    assert safe(value) == expected


def test_length_cap_and_wide_text():
    assert safe("x" * 10_000, 20) == "x" * 19 + "…"
    assert safe("東京カフェ☕") == "東京カフェ☕"
    assert safe(None) == ""
    assert safe("a\nb", multiline=True) == "a\nb"


@given(st.text())
def test_output_has_no_control_characters(value):
    cleaned = safe(value, limit=None)
    assert all(not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) for c in cleaned)
    assert is_clean(cleaned)


def test_safe_data_cleans_every_string_and_cuts_none():
    data = {
        "name\x1b[2J": ["a\x07", ("b\x9b",), {"c": "x" * 500}],
        "n": 3,
        "ok": True,
        "none": None,
    }
    assert safe_data(data) == {
        "name␛[2J": ["a␇", ["b\\u009b"], {"c": "x" * 500}],
        "n": 3,
        "ok": True,
        "none": None,
    }
