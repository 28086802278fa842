"""The dashboard's cheap paths at scale give the same screen as the full ones: a burst of
snapshots is one message, an unchanged refresh renders nothing, a changed project replaces
only its own line, and the filter's per-text answers equal a row-by-row match."""

from __future__ import annotations

import random
from dataclasses import replace

from layers_tui.domain.filtering import filter_rows, matches, parse_filter
from layers_tui.session.inventory import Progress, ProgressUpdated, ProjectsUpdated, ProjectUpdated
from layers_tui.ui.messages import ProjectsListed, ProjectsLoaded, RefreshProgress
from layers_tui.ui.widgets.accounts_table import AccountsTable
from layers_tui.ui.widgets.project_list import ProjectList
from tests.scenes import build, loaded

SIZE = (120, 40)


async def test_an_unchanged_refresh_is_one_message_and_renders_nothing():
    harness = build()
    seen = []
    async with harness.app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.screen
        table = screen.query_one(AccountsTable)
        changes, renders = table.changes, []
        screen.render_all = lambda: renders.append("all")
        seen.clear()
        snapshots = app.session.inventory.load_cached()
        assert len(snapshots) == 6
        for snapshot in snapshots:
            app.inventory_event(ProjectUpdated(snapshot))
        await pilot.pause()
        loads = [m for m in seen if isinstance(m, ProjectsLoaded)]
        assert len(loads) == 1
        assert not screen._render_pending and renders == [] and table.changes == changes


async def test_a_listing_between_snapshots_keeps_their_order():
    harness = build()
    seen = []
    async with harness.app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await loaded(pilot)
        app = harness.app
        first, second = app.session.inventory.load_cached()[:2]
        seen.clear()
        app.inventory_event(ProjectUpdated(first))
        app.inventory_event(ProjectsUpdated(tuple(app.session.inventory.projects)))
        app.inventory_event(ProjectUpdated(second))
        await pilot.pause()
        kinds = [type(m) for m in seen if isinstance(m, ProjectsLoaded | ProjectsListed)]
        assert kinds == [ProjectsLoaded, ProjectsListed, ProjectsLoaded]


async def test_a_later_snapshot_of_a_project_replaces_its_queued_one():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        snapshot = harness.app.session.inventory.load_cached()[0]
        later = replace(snapshot, fetched_at=snapshot.fetched_at.replace(year=2099))
        message = ProjectsLoaded.of(snapshot, later)
        assert len(message.batch) == 1
        assert message.batch.take() == [later]
        assert message.batch.taken


def _prompts(project_list: ProjectList) -> list[tuple[str | None, str, list]]:
    return [(o.id, o.prompt.plain, list(o.prompt.spans)) for o in project_list.options]


async def test_a_changed_project_replaces_only_its_line_and_reads_as_a_full_rebuild():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.screen
        project_list = screen.query_one(ProjectList)
        snapshot = next(s for s in app.session.inventory.load_cached() if len(s.social) > 1)
        worse = replace(
            snapshot,
            social=(
                snapshot.social[0].model_copy(update={"status": "reauth_required"}),
                *snapshot.social[1:],
            ),
        )
        replaced: list[int] = []
        original = project_list.replace_option_prompt_at_index
        project_list.replace_option_prompt_at_index = lambda index, prompt: (
            replaced.append(index) or original(index, prompt)
        )
        rebuilt: list[object] = []
        project_list.set_options = lambda options: rebuilt.append(options)
        app.inventory_event(ProjectUpdated(worse))
        await pilot.pause()
        screen.flush_render()
        await pilot.pause()
        assert rebuilt == []  # the same projects in the same order: no new options
        changed_at = [n for n, o in enumerate(project_list.options) if o.id == snapshot.project.id]
        assert set(replaced) <= {0, *changed_at} and changed_at[0] in replaced
        assert project_list._line_cache.lines  # the other options' layout kept
        incremental = _prompts(project_list)
        del project_list.set_options  # Textual's own again
        screen._entries, screen._prompts, project_list._ids = {}, {}, []
        screen._render_projects()  # everything made anew
        assert _prompts(project_list) == incremental


def test_filtering_with_shared_texts_matches_row_by_row():
    from datetime import timedelta

    from layers_tui.domain.status import Thresholds
    from tests.ui.test_board import NOW
    from tests.ui.test_board import snapshot as one_account

    rng = random.Random(7)
    rows = []
    statuses = ["connected", "reauth_required", "disconnected", "expired", "revoked"]
    for n in range(300):
        days = rng.choice([None, 1, 3, 30])
        project = one_account(f"p{n}", timedelta(days=days) if days else None, rng.choice(statuses))
        rows.extend(project.rows(NOW, Thresholds()))
    for text in [
        "status:r",
        "status:re",
        "status:reauth",
        "!status:connected",
        "platform:tiktok status:disc",
        "status:/^re/",
        "kind:social !platform:tik*",
        "p1 status:reauth",
    ]:
        spec = parse_filter(text)
        assert filter_rows(rows, spec) == [r for r in rows if matches(r, spec)], text
    assert filter_rows(rows, parse_filter("status:reauth"))  # the check can fail


async def test_a_recompute_redraws_only_rows_that_read_differently():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        table = screen.query_one(AccountsTable)
        shown = range(min(len(table.rows), 30))
        before = {table.rows[n].key: dict(table._cells(table.rows[n])) for n in shown}
        for n in shown:
            table.render_line(n + 1)
        drawn: list[str] = []
        original = table._row_strip
        table._row_strip = lambda row, variant: drawn.append(row.key) or original(row, variant)
        harness.clock.advance(31)
        screen.tick()  # rows moved to the new time: every row's cells made again
        await pilot.pause()
        for n in shown:
            table.render_line(n + 1)
        changed = {
            table.rows[n].key
            for n in shown
            if table._cells(table.rows[n]) != before.get(table.rows[n].key)
        }
        assert set(drawn) == changed
        assert len(drawn) < len(shown)  # some rows read the same: their strips were kept


async def test_kept_status_labels_follow_a_projects_new_rows():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.screen
        now = app.clock.now()

        def every_label() -> set[str]:
            return {row.status_label for row in screen.board.sorted_rows(None, "status", False)}

        before = screen.status_labels_of(None, now)
        assert before == every_label()
        snapshot = next(s for s in app.session.inventory.load_cached() if s.social)
        gone = replace(
            snapshot,
            social=tuple(a.model_copy(update={"status": "revoked"}) for a in snapshot.social),
        )
        app.inventory_event(ProjectUpdated(gone))
        await pilot.pause()
        screen.flush_render()
        await pilot.pause()
        assert screen.status_labels_of(None, now) == every_label() != before


async def test_progress_in_a_burst_is_one_message_with_the_latest():
    harness = build()
    seen = []
    async with harness.app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await loaded(pilot)
        app = harness.app
        seen.clear()
        for done in range(1, 51):
            app.inventory_event(ProgressUpdated(Progress(done < 50, done, 50)))
        await pilot.pause()
        assert len([m for m in seen if isinstance(m, RefreshProgress)]) == 1
        assert app.screen.progress == Progress(False, 50, 50)
        app.inventory_event(ProgressUpdated(Progress(True, 1, 9)))  # a later one: posted
        await pilot.pause()
        assert len([m for m in seen if isinstance(m, RefreshProgress)]) == 2
        assert app.screen.progress == Progress(True, 1, 9)


async def test_after_a_full_rebuild_the_table_holds_the_boards_new_rows_not_equal_old_ones():
    """New rows equal to the shown ones (every row recomputed) are taken by identity, not
    compared field by field, and the cursor stays on its account."""
    from datetime import timedelta

    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        table = screen.query_one(AccountsTable)
        table.move_cursor(row=3)
        selected = table.selected_key
        old_rows = list(table.rows)
        board = screen.board
        now = harness.clock.now()
        for project_id in board._changes_at:
            board._changes_at[project_id] = now - timedelta(seconds=1)
        board.recompute(now)
        screen.render_all()
        await pilot.pause()
        assert table.rows == old_rows  # the same accounts, equal field by field...
        assert not any(new is old for new, old in zip(table.rows, old_rows, strict=True))
        held = {id(row) for p in board.projects for row in board.project_rows(p.id, now)}
        assert all(id(row) in held for row in table.rows)  # ...the very rows the board holds
        assert table.selected_key == selected


async def test_an_unchanged_refresh_keeps_one_copy_of_every_account():
    """An unchanged refresh leaves the board's snapshots (the models its rows were made from)
    in place and nothing keeps the new, equal ones: one copy of every account, whatever
    renders. (The project list's lines kept the snapshot they were drawn from: a follower's
    RSS grew by a copy of every account during each quiet pass.)"""
    import gc
    import weakref

    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.screen
        kept = dict(screen.board.snapshots)
        assert len(kept) == 6
        arrived = app.session.inventory.load_cached()
        news = [weakref.ref(snapshot) for snapshot in arrived]
        for snapshot in arrived:
            app.inventory_event(ProjectUpdated(snapshot))
        del arrived, snapshot
        await pilot.pause()
        gc.collect()
        assert all(screen.board.snapshots[pid] is kept[pid] for pid in kept)
        assert all(ref() is None for ref in news)
