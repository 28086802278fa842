"""Pilot tests: every dashboard binding against the in-process sandbox."""

from __future__ import annotations

import json

from layers_tui.ui.messages import AccountRevoked, ProjectsLoaded
from layers_tui.ui.screens.dashboard import DashboardScreen
from layers_tui.ui.screens.detail import DetailScreen
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.screens.pending import PendingScreen
from layers_tui.ui.widgets.accounts_table import AccountsTable
from layers_tui.ui.widgets.footer import KeyBar
from tests.scenes import build, highlight_project, loaded, screen_text, select_account, settle

SIZE = (120, 40)


def table_of(app) -> AccountsTable:
    return app.screen.query_one(AccountsTable)


def shown_names(app) -> list[str]:
    return [row.name for row in app.screen.visible_rows]


async def test_initial_load_delivers_every_project_worst_first():
    harness = build()
    seen = []
    async with harness.app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await loaded(pilot)
        loads = [m for m in seen if isinstance(m, ProjectsLoaded)]
        assert 1 <= len(loads) <= 6  # snapshots arriving together share a message
        assert len(harness.app.screen.board.snapshots) == 6
        assert shown_names(harness.app)[:3] == ["northwindfitness", "acme_baristas", "pixelpals_jp"]
        assert table_of(harness.app).cursor_row == 0
        assert harness.app.screen.query_one("#status-line").visual is not None


async def test_quiet_refresh_does_no_visible_work():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        changes, calls = table.changes, []
        original = table.refresh
        table.refresh = lambda *a, **k: calls.append(a) or original(*a, **k)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        assert table.changes == changes and calls == []


async def test_changed_row_updates_in_place_and_keeps_the_cursor():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        changes = table_of(harness.app).changes
        account = next(r for r in harness.app.screen.visible_rows if r.name == "acmecoffee")
        async with harness.control() as control:
            await control.post(f"/sandbox/social-accounts/{account.key}/expire-token")
        await pilot.press("ctrl+r")
        await loaded(pilot)
        table = table_of(harness.app)
        assert table.selected_key == account.key  # the cursor followed the row
        assert table.changes == changes + 1  # one repaint for the one change


async def test_filter_field_terms_problems_and_escape():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"status:reauth", "enter")
        await pilot.pause()
        assert set(shown_names(harness.app)) == {
            "northwindfitness",
            "acme_baristas",
            "pixelpals_jp",
        }
        await pilot.press("slash", *" !platform:instagram")
        await pilot.pause()
        assert set(shown_names(harness.app)) == {"acme_baristas", "pixelpals_jp"}
        await pilot.press("escape")
        await pilot.pause()
        assert len(shown_names(harness.app)) == 24
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert len(shown_names(harness.app)) == 11  # 8 critical + 3 warning
        await pilot.press("exclamation_mark")


async def test_bad_regex_is_explained_and_ignored():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", "slash", "[", "slash")
        await pilot.pause()
        assert harness.app.screen.filter_text == "/[/"
        assert len(shown_names(harness.app)) == 24  # the broken term is ignored
        text = screen_text(harness.app)
        assert "Filter: bad regex /[/: unterminated character set" in text
        assert "(ignored)." in text and "Press /" not in text  # typing in the filter
        await pilot.press("enter")
        await pilot.pause()
        assert "(ignored). Press / to fix" in screen_text(harness.app)


async def test_sort_cycles_and_flips():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        await pilot.press("s")  # expiry
        assert screen.sort_column == "expiry"
        expiring = [r for r in screen.visible_rows if r.token_expires_at]
        assert expiring == sorted(expiring, key=lambda r: r.token_expires_at)
        await pilot.press("s")  # name
        assert shown_names(harness.app) == sorted(shown_names(harness.app), key=str.lower)
        await pilot.press("S")
        assert shown_names(harness.app) == sorted(
            shown_names(harness.app), key=str.lower, reverse=True
        )


async def test_selecting_a_project_and_empty_states():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await highlight_project(pilot, "Bloom")
        assert set(shown_names(harness.app)) == {
            "bloomandwild",
            "bloom.wild.uk",
            "bloom_weddings",
            "Bloom & Wild UK",
            "Bloom & Wild App",
        }
        await highlight_project(pilot, "Lumen")
        table = table_of(harness.app)
        assert table.row_count == 0 and "Press c to connect one" in table.message
        assert "Press c to connect one" in screen_text(harness.app)


async def test_details_copy_and_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        await pilot.press("y")
        row = harness.app.screen.selected_row()
        assert harness.app.clipboard == row.key
        await pilot.press("e")
        csv_file = next(tmp_path.glob("layers-accounts-*.csv"))
        data = json.loads(next(tmp_path.glob("layers-accounts-*.json")).read_text())
        assert len(data["accounts"]) == 24
        assert csv_file.read_text().count("\n") == 25
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(harness.app.screen, DetailScreen)
        health = str(harness.app.screen.query_one("#detail-health").render())
        assert "Content health" in health and "tier" in health
        await pilot.press("escape", "p")
        assert isinstance(harness.app.screen, PendingScreen)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert "Reauth all" in screen_text(harness.app)


async def test_details_show_fields_the_client_does_not_model():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        async with harness.control() as control:
            projects = (await control.get("/v1/projects")).json()["items"]
            lumen = next(p for p in projects if p["name"] == "Lumen Skincare")
            await control.post(
                f"/sandbox/projects/{lumen['id']}/social-accounts",
                json={
                    "handle": "future_fields",
                    "status": "connected",
                    "extraFields": {
                        "followerCount": 1234,
                        "labels": {"tier": "[b]gold[/b]"},
                        "[@click=app.quit]": "x",
                    },
                },
            )
        await pilot.press("ctrl+r")
        await loaded(pilot)
        await highlight_project(pilot, "Lumen")
        await select_account(pilot, "future_fields")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(harness.app.screen, DetailScreen)
        fields = screen_text(harness.app)
        for expected in (
            "socialAccountId",
            "tokenExpiresAt",
            "followerCount",
            "1234",
            '{"tier": "[b]gold[/b]"}',
            "[@click=app.quit]",
        ):
            assert expected in fields, expected


async def test_revoke_needs_confirmation_and_reports_cancelled_posts():
    harness = build()
    seen = []
    async with harness.app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("enter")  # focus starts on Cancel: enter cancels
        await settle(pilot)
        assert not [m for m in seen if isinstance(m, AccountRevoked)]
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await settle(pilot)
        revoked = [m for m in seen if isinstance(m, AccountRevoked)]
        assert len(revoked) == 1 and revoked[0].result.canceled_scheduled_posts == 6
        row = next(r for r in harness.app.screen.visible_rows if r.name == "acmecoffee")
        assert row.status == "disconnected"


async def test_live_keys_must_type_the_handle_to_revoke():
    from layers_tui.ui.screens.confirm import RevokeDialog

    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        harness.app.key_env = "live"
        await pilot.press("d")
        await pilot.pause()
        dialog = harness.app.screen
        assert isinstance(dialog, RevokeDialog)
        assert dialog.query_one("#revoke").disabled
        dialog.query_one("#confirm-name").value = "acmecoffee"
        await pilot.pause()
        assert not dialog.query_one("#revoke").disabled


async def test_read_only_refuses_every_change():
    harness = build(read_only=True)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        for key in ("c", "r", "R", "d"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(harness.app.screen, DashboardScreen)
        messages = [n.message for n in harness.app._notifications]
        assert sum("read-only" in m for m in messages) == 4
        posts = [r for r in harness.transport.requests if r.method != "GET"]
        assert posts == []


async def test_leased_and_disconnected_rows_explain_why_not():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await select_account(pilot, "nw_daily_workout")
        await pilot.press("d", "r")
        await select_account(pilot, "bloom_weddings")
        await pilot.press("r")
        await pilot.pause()
        messages = [n.message for n in harness.app._notifications]
        assert any("leased accounts are released through Layers" in m for m in messages)
        assert any("leased accounts are managed by Layers" in m for m in messages)
        assert any("cannot be reauthorised" in m for m in messages)


async def test_connect_dialog_opens_a_flow_for_the_project():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await highlight_project(pilot, "Lumen")
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "enter")  # Instagram
        await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen)
        assert screen.flow.platform == "instagram" and screen.flow.kind == "connect"
        assert screen.flow.project_name == "Lumen Skincare"


async def test_offline_keeps_data_marked_stale_and_recovers():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        harness.transport.offline = True
        await pilot.press("ctrl+r")
        await loaded(pilot)
        screen = harness.app.screen
        assert len(screen.visible_rows) == 24
        assert screen.last_error.code == "CONNECTION_FAILED"
        assert table_of(harness.app).has_class("-stale")
        harness.transport.offline = False
        await pilot.press("ctrl+r")
        await loaded(pilot)
        assert screen.last_error is None and not table_of(harness.app).has_class("-stale")


async def test_empty_organisation_says_what_to_do():
    harness = build(seed=None)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "No projects in this organisation yet" in table_of(harness.app).message


async def test_quit():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert harness.app.return_code == 0


async def test_every_binding_is_in_the_command_palette_and_runs_from_it():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        titles = {
            command.title: command.help for command in harness.app.get_system_commands(screen)
        }
        for binding in DashboardScreen.BINDINGS:
            if binding.action.startswith("app."):
                continue
            assert binding.description in titles, binding.description
        assert titles["Problems"] == "key !"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Problems")
        await pilot.pause(0.3)  # the palette searches in a worker
        await pilot.press("enter")
        await settle(pilot)
        assert screen.problems_only
        assert len(shown_names(harness.app)) == 11


async def test_mouse_picks_projects_and_rows_and_double_click_opens_details():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        projects = screen.query_one("#projects")
        lumen_line = next(
            index for index, option in enumerate(projects._options) if "Lumen" in str(option.prompt)
        )
        await pilot.click("#projects", offset=(4, 1 + lumen_line))
        await settle(pilot)
        assert "Press c to connect one" in table_of(harness.app).message
        await pilot.click("#projects", offset=(4, 1))  # "All projects"
        await settle(pilot)
        table = table_of(harness.app)
        await pilot.click("#accounts", offset=(5, 3))  # header is line 0: third row
        await pilot.pause()
        assert table.cursor_row == 2
        await pilot.click("#accounts", offset=(5, 3), times=2)
        await settle(pilot)
        assert isinstance(harness.app.screen, DetailScreen)
        assert harness.app.screen.row.key == table.rows[2].key


async def test_key_bar_shows_the_keys_and_a_click_presses_one():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        bar = harness.app.screen.query_one(KeyBar)
        line = screen_text(harness.app).splitlines()[-1]
        assert line.startswith(" ? Help  / Filter  ! Problems  s Sort  c Connect ")
        assert line.rstrip().endswith("▏ ^p palette")
        start = next(start for start, _, hint in bar._spans if hint.key == "p")
        await pilot.click(KeyBar, offset=(start + 1, 0))
        await settle(pilot)
        assert isinstance(harness.app.screen, PendingScreen)


async def test_key_bar_takes_the_themes_footer_colours():
    """Themes that colour their footer (solarized: blue with light text) keep it readable."""
    harness = build(theme="solarized-light")
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        bar = harness.app.screen.query_one(KeyBar)
        footer = harness.app.theme_variables["footer-background"]
        assert bar.styles.background.hex.lower() == footer.lower()
