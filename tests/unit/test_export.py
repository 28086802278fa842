"""CSV and JSON export: cells never split, formulas never run, empty stays empty, the file
round-trips through Python's csv reader."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from layers_tui.domain.export import FIELDS, csv_cell, to_csv, to_json, write_csv
from layers_tui.domain.status import ad_row, social_row
from layers_tui.models import AdAccount, Project, SocialAccount

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROJECT = Project(id="p_1", name='=HYPERLINK("http://evil")')


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def rows() -> list:
    account = SocialAccount(
        social_account_id="s_1",
        platform="tiktok",
        handle="-2+3",
        status="connected",
        leased=True,
        token_expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    ad = AdAccount(ad_account_id="a_1", platform="meta_ads", name="@SUM(A1)", token_status="valid")
    return [social_row(account, PROJECT, NOW), ad_row(ad, PROJECT)]


def test_a_bare_carriage_return_cannot_start_a_new_cell():
    text = write_csv([{"a": "x\r=1+1", "b": "y"}, {"a": "\r=1+1", "b": "z"}], ["a", "b"])
    assert read(text) == [["a", "b"], ["x\r=1+1", "y"], ["'\r=1+1", "z"]]
    assert '"x\r=1+1"' in text


def test_csv_cells_formula_guard_empty_and_booleans():
    header, social, ad = read(to_csv(rows()))
    assert header == list(FIELDS)
    social_cells, ad_cells = (
        dict(zip(header, social, strict=True)),
        dict(zip(header, ad, strict=True)),
    )
    assert social_cells["project"] == '\'=HYPERLINK("http://evil")'
    assert social_cells["name"] == "'-2+3"
    assert ad_cells["name"] == "'@SUM(A1)"
    assert social_cells["leased"] == "true" and ad_cells["leased"] == "false"
    assert social_cells["problem"] == "" and ad_cells["tokenExpiresAt"] == ""
    assert social_cells["connectedAt"] == ""
    assert social_cells["tokenExpiresAt"] == "2027-01-01T00:00:00Z"
    text = to_csv(rows())
    assert ",'," not in text and ",," in text  # an empty cell is empty, never a lone '


def test_csv_cell_rules():
    assert csv_cell("") == "" and csv_cell(None) == ""
    assert csv_cell(True) == "true" and csv_cell(False) == "false"
    for start in "=+-@\t\r":
        assert csv_cell(f"{start}x") == f"'{start}x"
    assert csv_cell("a=b") == "a=b" and csv_cell(3) == "3"


def test_json_export_booleans_and_nulls():
    data = json.loads(to_json(rows()))
    social, ad = data["accounts"]
    assert social["leased"] is True and ad["leased"] is False
    assert ad["tokenExpiresAt"] is None and social["problem"] == ""
    assert social["name"] == "-2+3"  # JSON is data, no formula guard


@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=5))
def test_any_text_round_trips_through_the_csv_reader(values):
    records = [dict(zip("abc", row, strict=True)) for row in values]
    parsed = read(write_csv(records, "abc"))
    assert parsed[0] == ["a", "b", "c"]
    assert parsed[1:] == [[csv_cell(value) for value in row] for row in values]
