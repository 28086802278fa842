"""The dashboard's data without Textual: rows move with the clock only where a token
crosses a threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from layers_tui.api import ApiError
from layers_tui.domain.status import Severity, Thresholds
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import Project, SocialAccount
from layers_tui.ui.board import Board, next_change

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
