"""The dashboard's data without Textual: rows move with the clock only where a token
crosses a threshold."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from layers_tui.api import ApiError
from layers_tui.domain.filtering import SORT_KEYS as FILTER_SORT_KEYS
from layers_tui.domain.filtering import filter_rows, parse_filter, sort_rows
from layers_tui.domain.status import Severity, Thresholds
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import AdAccount, Project, SocialAccount
from layers_tui.ui.board import SORT_KEYS, Board, next_change
from layers_tui.ui.widgets.accounts_table import COLUMN_KEYS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
THRESHOLDS = Thresholds(warn_seconds=7 * 86_400, crit_seconds=86_400)


def snapshot(project_id: str, expires_in: timedelta | None, status: str = "connected"):
    account = SocialAccount.model_validate(
        {
            "socialAccountId": f"sa_{project_id}",
            "platform": "tiktok",
            "handle": f"h_{project_id}",
            "status": status,
            "tokenExpiresAt": (NOW + expires_in).isoformat() if expires_in else None,
        }
    )
    return ProjectSnapshot(Project(id=project_id, name=project_id), (account,), fetched_at=NOW)


def test_next_change_is_the_first_threshold_still_ahead():
    board = Board(THRESHOLDS)
    board.set_projects([Project(id="p", name="p")])
    board.put(snapshot("p", timedelta(days=10)))
    rows = board.project_rows("p", NOW)
    assert next_change(rows, NOW, THRESHOLDS) == NOW + timedelta(days=3)  # enters warning
    later = NOW + timedelta(days=8)
    assert next_change(rows, later, THRESHOLDS) == NOW + timedelta(days=9)  # critical
    assert next_change(rows, NOW + timedelta(days=11), THRESHOLDS) is None


def test_recompute_touches_only_projects_whose_rows_changed():
    board = Board(THRESHOLDS)
    board.set_projects([Project(id="soon", name="soon"), Project(id="far", name="far")])
    board.put(snapshot("soon", timedelta(days=7, minutes=1)))
    board.put(snapshot("far", timedelta(days=60)))
    board.ensure_rows(NOW)
    far_rows = board.project_rows("far", NOW)
    assert board.project_rows("soon", NOW)[0].severity is Severity.OK
    assert not board.recompute(NOW + timedelta(seconds=30))  # nothing crossed a threshold
    assert board.project_rows("far", NOW) is far_rows
    later = NOW + timedelta(minutes=2)
    assert board.recompute(later)
    assert board.project_rows("soon", later)[0].severity is Severity.WARNING
    assert board.project_rows("far", later) is far_rows  # not rebuilt
    assert board.total.warning == 1 and board.total.ok == 1


def test_a_failed_refresh_keeps_the_last_good_rows():
    board = Board(THRESHOLDS)
    board.set_projects([Project(id="p", name="p")])
    board.put(snapshot("p", timedelta(days=60)))
    failed = ProjectSnapshot(Project(id="p", name="p"), error=ApiError(500, "INTERNAL", "x"))
    assert board.put(failed)
    kept = board.snapshots["p"]
    assert kept.error is not None and len(kept.social) == 1 and kept.fetched_at == NOW


# -- sort orders ---------------------------------------------------------------------------------
def random_snapshot(rng: random.Random, project_id: str, name: str) -> ProjectSnapshot:
    """A project with a few social and ad accounts whose sort keys often tie."""
    social = []
    for n in range(rng.randint(0, 6)):
        expires = rng.choice([None, NOW + timedelta(days=rng.randint(-2, 12))])
        connected = rng.choice([None, NOW - timedelta(days=rng.randint(0, 3))])
        social.append(
            SocialAccount.model_validate(
                {
                    "socialAccountId": f"sa_{project_id}_{n}",
                    "platform": rng.choice(["tiktok", "instagram"]),
                    "handle": rng.choice(["Ann", "ann", "bob", "Cy", "dee"]),
                    "status": rng.choice(["connected", "connected", "reauth_required", "gone"]),
                    "leased": rng.random() < 0.3,
                    "tokenExpiresAt": expires.isoformat() if expires else None,
                    "connectedAt": connected.isoformat() if connected else None,
                }
            )
        )
    ads = [
        AdAccount.model_validate(
            {
                "adAccountId": f"ad_{project_id}_{n}",
                "platform": rng.choice(["meta_ads", "tiktok_ads"]),
                "name": rng.choice(["Ann", "shop", "Shop"]),
                "tokenStatus": rng.choice(["valid", "expired"]),
                "tokenLastValidatedAt": rng.choice(
                    [None, (NOW - timedelta(hours=rng.randint(0, 5))).isoformat()]
                ),
            }
        )
        for n in range(rng.randint(0, 3))
    ]
    fetched = rng.choice([None, NOW - timedelta(hours=rng.randint(0, 5))])
    return ProjectSnapshot(
        Project(id=project_id, name=name), tuple(social), tuple(ads), fetched_at=fetched
    )


def random_board(seed: int, projects: int = 30) -> tuple[Board, random.Random]:
    rng = random.Random(seed)
    board = Board(THRESHOLDS)
    names = ["Acme", "acme", "Bloom", "Zed"]
    board.set_projects([Project(id=f"p{n}", name=rng.choice(names)) for n in range(projects)])
    for project in board.projects:
        board.put(random_snapshot(rng, project.id, project.name))
    board.ensure_rows(NOW)
    return board, rng


def full_sort(board: Board, column: str, reverse: bool) -> list[str]:
    rows = [row for p in board.projects for row in board.project_rows(p.id, NOW)]
    return [row.key for row in sorted(rows, key=SORT_KEYS[column], reverse=reverse)]


def keys(rows: list) -> list[str]:
    return [row.key for row in rows]


def test_every_sortable_column_has_an_order_and_the_table_knows_them_all():
    columns = [column for column, _ in Board.SORTABLE]
    assert set(columns) == set(SORT_KEYS)
    assert {"checked", "leased"} <= set(columns)
    assert set(FILTER_SORT_KEYS) <= set(columns)
    assert set(columns) <= set(COLUMN_KEYS)  # each one a column of the accounts table


def test_the_board_orders_as_the_domain_sort_does_for_the_columns_it_has():
    for seed in range(5):
        board, _ = random_board(seed)
        rows = [row for p in board.projects for row in board.project_rows(p.id, NOW)]
        for column in FILTER_SORT_KEYS:
            for reverse in (False, True):
                expected = keys(sort_rows(rows, column, reverse))
                assert keys(board.sorted_rows(None, column, reverse)) == expected, column


def test_sorting_by_checked_and_leased():
    board = Board(THRESHOLDS)
    board.set_projects([Project(id="p", name="p")])
    accounts = [
        {"socialAccountId": "never", "handle": "a", "leased": False},
        {"socialAccountId": "leased", "handle": "b", "leased": True},
        {"socialAccountId": "plain", "handle": "c", "leased": False},
    ]
    social = tuple(
        SocialAccount.model_validate({"platform": "tiktok", "status": "connected", **account})
        for account in accounts
    )
    ad = AdAccount.model_validate(
        {
            "adAccountId": "ad",
            "platform": "meta_ads",
            "name": "d",
            "tokenStatus": "valid",
            "tokenLastValidatedAt": (NOW - timedelta(days=30)).isoformat(),
        }
    )
    board.put(ProjectSnapshot(Project(id="p", name="p"), social, (ad,), fetched_at=NOW))
    board.ensure_rows(NOW)
    # Social rows were checked when the project was fetched (NOW); the ad a month ago.
    assert keys(board.sorted_rows(None, "checked", False)) == ["ad", "never", "leased", "plain"]
    assert keys(board.sorted_rows(None, "leased", False))[0] == "leased"
    assert keys(board.sorted_rows(None, "leased", True))[-1] == "leased"
    assert keys(board.sorted_rows("p", "checked", False)) == ["ad", "never", "leased", "plain"]


def test_a_quiet_refresh_moves_the_check_time_and_the_order_by_it():
    """Nothing changed but the fetch time: the rows are not rebuilt, yet 'Checked' and the
    order by it follow the new time (they showed the first fetch's time until data changed)."""
    board = Board(THRESHOLDS)
    board.set_projects([Project(id="a", name="a"), Project(id="b", name="b")])
    first = {pid: replace(snapshot(pid, timedelta(days=30)), fetched_at=NOW) for pid in "ab"}
    board.put(replace(first["a"], fetched_at=NOW - timedelta(minutes=5)))
    board.put(first["b"])
    board.ensure_rows(NOW)
    rows_before = {pid: board.project_rows(pid, NOW) for pid in "ab"}
    assert [row.project_id for row in board.sorted_rows(None, "checked", False)] == ["a", "b"]

    later = NOW + timedelta(minutes=1)
    assert board.put(replace(first["a"], fetched_at=later)) is False  # quiet
    board.ensure_rows(later)
    assert board.project_rows("a", later) is rows_before["a"]  # not rebuilt
    assert {row.checked_at for row in rows_before["a"]} == {later}
    assert [row.project_id for row in board.sorted_rows(None, "checked", False)] == ["b", "a"]
    assert [row.project_id for row in board.sorted_rows(None, "checked", True)] == ["a", "b"]


def test_an_unknown_column_is_refused_by_name():
    board, _ = random_board(0, projects=2)
    with pytest.raises(ValueError, match="cannot sort by 'size'"):
        board.sorted_rows(None, "size", False)


def test_changed_projects_merged_into_cached_orders_give_the_full_sort(monkeypatch):
    """Property over random boards and random changes: a cached order, after new data,
    crossings and renamed projects, equals a full stable sort of the same rows, and is
    made by merging (never sorting everything again)."""
    columns = [column for column, _ in Board.SORTABLE]
    for seed in range(24):
        board, rng = random_board(seed)
        column, reverse = columns[seed % len(columns)], seed % 3 == 0
        board.sorted_rows(None, column, reverse)
        sorted_again = []
        monkeypatch.setattr(board, "_full_sort", lambda *args, seen=sorted_again: seen.append(args))
        now = NOW
        for _ in range(6):
            for project in rng.sample(board.projects, rng.randint(1, 4)):
                board.put(random_snapshot(rng, project.id, rng.choice(["Acme", "Yak"])))
            if rng.random() < 0.5:  # a crossing: rows computed again for `now`
                now += timedelta(days=rng.randint(1, 3))
                board.recompute(now)
            board.ensure_rows(now)
            if rng.random() < 0.3:  # changed again before anyone looked
                project = rng.choice(board.projects)
                board.put(random_snapshot(rng, project.id, "Twice"))
                board.ensure_rows(now)
            merged = keys(board.sorted_rows(None, column, reverse))
            assert merged == full_sort(board, column, reverse), (seed, column, reverse)
        assert not sorted_again


def test_other_cached_orders_follow_a_change():
    board, rng = random_board(5)
    for column, _ in Board.SORTABLE:
        for reverse in (False, True):
            board.sorted_rows(None, column, reverse)
    board.put(random_snapshot(rng, "p3", "Moved"))
    board.ensure_rows(NOW)
    for column, _ in Board.SORTABLE:
        for reverse in (False, True):
            assert keys(board.sorted_rows(None, column, reverse)) == full_sort(
                board, column, reverse
            )


def test_a_project_reordered_or_gone_sorts_again():
    board, _ = random_board(3, projects=6)
    board.sorted_rows(None, "name", False)
    board.set_projects(list(reversed(board.projects[1:])))
    board.ensure_rows(NOW)
    assert keys(board.sorted_rows(None, "name", False)) == full_sort(board, "name", False)
    assert all(row.project_id != "p0" for row in board.sorted_rows(None, "name", False))


# -- search text -----------------------------------------------------------------------------------
def test_search_text_is_what_the_row_computes_and_follows_new_data():
    board, rng = random_board(7, projects=10)
    for project in board.projects:
        for row in board.project_rows(project.id, NOW):
            fresh = replace(row)  # a new row computes its own search fields
            assert row.search_fields == fresh.search_fields
            assert row.search_text == fresh.search_text
    project = board.projects[0]
    renamed = SocialAccount.model_validate(
        {
            "socialAccountId": "sa_new",
            "platform": "tiktok",
            "handle": "Zebra_Crossing",
            "status": "connected",
        }
    )
    board.put(ProjectSnapshot(Project(id=project.id, name="Renamed Co"), (renamed,)))
    board.ensure_rows(NOW)
    rows = board.sorted_rows(None, "status", False)
    found = filter_rows(rows, parse_filter("zebra_cross"))
    assert keys(found) == ["sa_new"]
    assert keys(filter_rows(rows, parse_filter("project:renamed"))) == ["sa_new"]
    assert not filter_rows(rows, parse_filter(f"project:{project.id} !zebra"))


MEASURE_PRIMED_ROWS = """
import tracemalloc
from datetime import UTC, datetime
from layers_tui.domain.status import Thresholds, social_row
from layers_tui.models import Project, SocialAccount
from layers_tui.ui.board import Board

rows = [
    social_row(
        SocialAccount.model_validate(
            {"socialAccountId": f"sa_{n}", "platform": "tiktok", "handle": f"h{n}",
             "status": "connected"}
        ),
        Project(id="p", name="P"),
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    for n in range(2_000)
]
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
Board(Thresholds())._prime_search(rows)
assert rows[5].search_fields["name"] == "h5"
print((tracemalloc.get_traced_memory()[0] - before) / len(rows))
"""


def test_search_text_keeps_rows_small():
    """In a fresh interpreter (the class's attribute layout is per process): the primed
    search text stays in each row's shared-key attribute storage, about 600 bytes a row
    for the text and fields, not 1,300 (a dict of attributes per row)."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_PRIMED_ROWS], capture_output=True, text=True, check=True
    )
    per_row = float(done.stdout)
    assert per_row < 900, per_row


def test_a_preview_holds_the_first_rows_of_the_whole_order_ties_included():
    """The store picks a preview's worst accounts in SQL; with equal severities and expiry
    times (the common case for broken accounts) the project's name, then the account's,
    then the listing order decide, as the board's own sort does."""
    from layers_tui.clock import FakeClock
    from layers_tui.session.inventory import Inventory, stored_accounts
    from layers_tui.session.store import Store

    store = Store.memory()
    rng = random.Random(7)
    names = ["beta", "Alpha", "gamma", "alpha", "Delta", "delta"]  # case and duplicates
    projects = [{"id": f"prj_{n}", "name": name} for n, name in enumerate(names)]
    store.replace_projects(projects, NOW)
    expiries = [NOW - timedelta(days=1), NOW + timedelta(hours=3), NOW + timedelta(days=3)]
    full = Board(THRESHOLDS)
    full.set_projects([Project.model_validate(doc) for doc in projects])
    for doc in projects:
        project = Project.model_validate(doc)
        social = tuple(
            SocialAccount.model_validate(
                {
                    "socialAccountId": f"sa_{doc['id']}_{k}",
                    "platform": rng.choice(["tiktok", "instagram"]),
                    "handle": rng.choice(["Zed", "amy", "Amy", "bob"]),
                    "status": rng.choice(["connected", "connected", "reauth_required"]),
                    "tokenExpiresAt": rng.choice([*expiries, None]),
                }
            )
            for k in range(8)
        )
        snap = ProjectSnapshot(project, social, fetched_at=NOW)
        store.save_project(project.id, stored_accounts(snap, NOW, THRESHOLDS), [], NOW)
        full.put(snap)
    full.ensure_rows(NOW)
    whole = [(row.project_id, row.key) for row in full.sorted_rows(None, "status", False)]

    inventory = Inventory(None, store, None, FakeClock(NOW), thresholds=THRESHOLDS)  # type: ignore[arg-type]
    for worst in range(1, len(whole) + 1):  # a cut anywhere, within a tie too
        board = Board(THRESHOLDS)
        board.load_preview(inventory.load_preview(worst), NOW)
        board.ensure_rows(NOW)
        rows = board.sorted_rows(None, "status", False)
        assert [(row.project_id, row.key) for row in rows] == whole[:worst]
    assert board.previewing == 48
    # Every status label of the whole table, for its status column's width.
    assert board.preview_labels == {
        row.status_label for row in full.sorted_rows(None, "status", False)
    }
    assert board.total == full.total  # the saved severities, counted in SQL
    assert all(board.summary(p.id) == full.summary(p.id) for p in full.projects)
