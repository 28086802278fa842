"""The journal screen: the operator journal from the store, newest first, following new
entries (from this process or another), untrusted text literal."""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.widgets import DataTable

from layers_tui.session.store import JournalEntry, Store
from layers_tui.text import safe
from layers_tui.ui.commands import commands_for
from layers_tui.ui.screens.help import HelpScreen
from layers_tui.ui.screens.journal import JournalScreen
from tests.scenes import HOSTILE_HANDLES, build, loaded, screen_text
from tests.ui.test_hostile import seed_hostile

SIZE = (140, 30)
FORBIDDEN = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)}


def rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def first_project(app):
    return app.session.inventory.projects[0]


async def open_journal(pilot) -> JournalScreen:
    await pilot.app.run_action("journal")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, JournalScreen)
    return screen


async def test_entries_show_newest_first_with_what_where_and_outcome():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        project = first_project(app)
        app.session.journal("reauth:minted", project_id=project.id, account_id="sa_one")
        harness.clock.advance(60)
        app.session.journal("reauth:completed", project_id=project.id, account_id="sa_one")
        harness.clock.advance(60)
        app.session.journal("revoke", project_id=project.id, account_id="sa_two")
        await open_journal(pilot)
        shown = rows(app)
        assert [row[1] for row in shown] == ["revoke", "reauth", "reauth"]
        assert [row[4] for row in shown] == ["done", "completed", "minted"]
        assert shown[0][2] == project.name and shown[0][3] == "sa_two"
        assert shown[2][0] == (harness.clock.now() - timedelta(minutes=2)).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        assert shown[0][5] == f"default @ {app.session.host}"
        assert "Journal: 3 operator action(s)" in screen_text(app)


async def test_a_new_entry_appears_while_open_and_the_cursor_keeps_its_entry(tmp_path):
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        app.session.journal("connect:minted", project_id=first_project(app).id)
        app.session.journal("connect:completed", project_id=first_project(app).id)
        screen = await open_journal(pilot)
        assert "No operator actions" not in screen_text(app)
        await pilot.press("j")
        table = screen.query_one(DataTable)
        assert table.cursor_row == 1
        harness.clock.advance(30)
        app.session.journal("revoke", account_id="sa_new")  # this process
        other = Store.open(tmp_path / "state.sqlite3")  # and another one (a dashboard)
        try:
            other.journal_add(
                JournalEntry(
                    harness.clock.now().timestamp() + 1,
                    "reauth:cancelled",
                    "work",
                    "lyr_test-abcd",
                    "elsewhere",
                    None,
                    "sa_other",
                    {},
                )
            )
        finally:
            other.close()
        assert len(rows(app)) == 2  # until the screen looks again (once a second)
        screen.follow()  # what its timer does
        await pilot.pause()
        shown = rows(app)
        assert [row[1] for row in shown[:2]] == ["reauth", "revoke"]
        assert shown[0][5] == "work @ elsewhere" and shown[0][4] == "cancelled"
        assert len(shown) == 4
        assert table.cursor_row == 3  # still on connect:minted, now two rows lower
        await pilot.press("k")
        assert table.cursor_row == 2


async def test_hostile_text_is_literal():
    harness = build()
    async with harness.app.run_test(size=(220, 30)) as pilot:
        await loaded(pilot)
        app = harness.app
        for handle in HOSTILE_HANDLES:
            app.session.journal(
                "revoke", project_id=f"prj_{handle}", account_id=handle, cancelledPosts=handle
            )
        app.session.journal("[b]x[/b]:[@click=app.quit]y[/]", account_id="[link=x]z[/link]")
        screen = await open_journal(pilot)
        text = screen_text(app)
        assert "[bold red]ADMIN" in text  # whole on screen, not bold, not red
        assert "[@click=app.quit]x[/]" in [row[3] for row in rows(app)]  # cut on screen
        assert "[b]x[/b]" in text and "[link=x]z[/link]" in text
        assert rows(app)[0][1:5:3] == ["[b]x[/b]", "[@click=app.quit]y[/]"]  # cut on screen
        assert not FORBIDDEN & set(text)
        table = screen.query_one(DataTable)
        for index in range(table.row_count):
            for cell in table.get_row_at(index):
                assert isinstance(cell, Text) and not cell.spans  # no markup made it a span
        assert app.is_running  # the @click action never ran


async def test_keys_back_help_and_the_palette():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        dashboard = app.screen
        assert "Journal" in [command.title for command in commands_for(dashboard)]
        screen = await open_journal(pilot)
        assert "Journal" not in [command.title for command in commands_for(screen)]
        assert "No operator actions yet" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("q")
        await pilot.pause()
        assert app.screen is dashboard
        await app.run_action("journal")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dashboard


def board_of(app):
    return app.dashboard.board


async def test_accounts_and_projects_show_by_the_names_the_dashboard_knows():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        snapshots = board_of(app).snapshots
        with_ads = next(s for s in snapshots.values() if s.social and s.ads)
        social, ad = with_ads.social[0], with_ads.ads[0]
        other = next(
            s for s in snapshots.values() if s.social and s.project.id != with_ads.project.id
        )
        project_id = with_ads.project.id
        app.session.journal(
            "reauth:minted", project_id=project_id, account_id=social.social_account_id
        )
        harness.clock.advance(1)
        app.session.journal("reauth:minted", project_id=project_id, account_id=ad.ad_account_id)
        harness.clock.advance(1)
        app.session.journal("revoke", account_id=other.social[0].social_account_id)  # no project
        harness.clock.advance(1)
        app.session.journal("revoke", project_id=project_id, account_id="sa_gone")
        harness.clock.advance(1)
        app.session.journal("connect:minted", project_id="prj_gone")
        await open_journal(pilot)
        shown = rows(app)
        assert [row[2:4] for row in shown] == [
            ["prj_gone", ""],  # neither known: the ids, as recorded
            [with_ads.project.name, "sa_gone"],
            ["", other.social[0].handle],
            [with_ads.project.name, ad.name],
            [with_ads.project.name, social.handle],
        ]
        assert social.handle != social.social_account_id and ad.name != ad.ad_account_id


async def test_hostile_handles_in_the_journal_are_literal():
    harness = build()
    async with harness.app.run_test(size=(220, 30)) as pilot:
        await seed_hostile(harness)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        app = harness.app
        lumen = next(
            s for s in board_of(app).snapshots.values() if s.project.name == "Lumen Skincare"
        )
        hostile = [s for s in lumen.social if s.handle in HOSTILE_HANDLES]
        assert len(hostile) == len(HOSTILE_HANDLES)
        for account in hostile:
            app.session.journal(
                "revoke", project_id=lumen.project.id, account_id=account.social_account_id
            )
        screen = await open_journal(pilot)
        shown = {row[3] for row in rows(app)}
        assert shown == {safe(handle, 60) for handle in HOSTILE_HANDLES}
        assert "[bold red]ADMIN" in shown and "[@click=app.quit]x[/]" in shown
        assert not FORBIDDEN & set(screen_text(app))
        table = screen.query_one(DataTable)
        for index in range(table.row_count):
            for cell in table.get_row_at(index):
                assert isinstance(cell, Text) and not cell.spans
        assert app.is_running
