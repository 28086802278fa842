"""Issue 14: the palette's Screenshot without ~/Downloads, and a rejected key that says
where it came from."""

from __future__ import annotations

import os

from layers_tui import paths
from layers_tui.ui.widgets.status_line import StatusLine
from tests.scenes import build, loaded, notes, screen_text, settle

SIZE = (120, 40)


async def test_palette_screenshot_saves_in_the_current_directory_and_says_where(
    tmp_path, monkeypatch
):
    home = tmp_path / "home"  # no Downloads folder in it
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        # The palette's Screenshot command calls this (after a 0.1 s real-time timer).
        commands = {
            command.title: command
            for command in harness.app.get_system_commands(harness.app.screen)
        }
        assert "Screenshot" in commands
        harness.app.deliver_screenshot()
        await pilot.pause()
        saved = list(work.glob("*.svg"))
        assert len(saved) == 1 and saved[0].read_text(encoding="utf-8").startswith("<svg")
        assert f"Screenshot saved to {saved[0]}" in notes(harness.app)
        assert not (home / "Downloads").exists()


async def test_screenshot_falls_back_to_the_state_dir_when_the_directory_is_read_only(
    tmp_path, monkeypatch
):
    work = tmp_path / "readonly"
    work.mkdir()
    work.chmod(0o500)
    monkeypatch.chdir(work)
    harness = build()
    try:
        async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
            await loaded(pilot)
            if os.access(work, os.W_OK):  # running as root: nothing is read-only
                return
            where = harness.app.deliver_screenshot()
            assert where is not None and where.startswith(str(paths.state_dir()))
            assert notes(harness.app)[-1] == f"Screenshot saved to {where}"
    finally:
        work.chmod(0o700)


async def test_a_rejected_key_says_where_it_came_from_and_suggests_doctor_once():
    harness = build()
    harness.transport.reject_key = True
    harness.app.initial["key_origin"] = "LAYERS_API_KEY (environment)"
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        rejected = [note for note in notes(harness.app) if "was rejected" in note]
        assert rejected == [
            "The API key from LAYERS_API_KEY (environment) was rejected (401). Run "
            "`layers-tui doctor` to see which key is used (masked) and where each setting "
            "comes from; fix it and start again."
        ]
        assert "retrying on its own" not in " ".join(notes(harness.app))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert sum("was rejected" in note for note in notes(harness.app)) == 1
        assert "layers-tui doctor" in screen_text(harness.app)
        # The status line stays after the toast is gone: it names the key's origin too.
        status = str(harness.app.screen.query_one(StatusLine).render())
        assert "(401)" in status
        assert "key from LAYERS_API_KEY (environment): check it with `layers-tui doctor`" in status


async def test_open_details_follow_the_accounts_new_data():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        dashboard = pilot.app.screen
        table = dashboard.query_one("AccountsTable")
        index = next(i for i, row in enumerate(table.rows) if row.status == "connected")
        table.move_cursor(row=index)
        row = table.rows[index]
        await pilot.press("enter")
        await settle(pilot)
        detail = pilot.app.screen
        assert "connected" in str(detail.query_one("#detail-head").render())
        org = harness.app.whoami.organization_id
        harness.sandbox.state.sandbox.world.expire_token(org, row.key)
        harness.app.refresh_pass([row.project_id])
        await settle(pilot)
        assert pilot.app.screen is detail
        head = str(detail.query_one("#detail-head").render())
        assert "reauth required" in head and "status reauth_required" in head


async def test_help_and_details_scroll_with_the_list_keys_at_80x24():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        body = pilot.app.screen.query_one("#help-body")
        assert body.max_scroll_y > 0  # Help is taller than 24 lines
        await pilot.press("j")
        await pilot.pause()
        assert body.scroll_y == 1
        await pilot.press("G")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        await pilot.press("g")
        await pilot.pause()
        assert body.scroll_y == 0
        await pilot.press("escape")
        await pilot.press("enter")
        await settle(pilot)
        details = pilot.app.screen.query_one("#detail-body")
        assert details.max_scroll_y > 0
        await pilot.press("G")
        await pilot.pause()
        assert details.scroll_y == details.max_scroll_y


async def test_the_status_line_says_which_project_the_table_is_limited_to_first():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        status = pilot.app.screen.query_one(StatusLine)
        assert "project:" not in str(status.render())
        await pilot.press("shift+tab")  # the project list
        await pilot.press("j")  # the first project after "All projects"
        await settle(pilot)
        second = str(status.render()).splitlines()[1]
        assert second.startswith(" project: ") or second.startswith("project: ")
        await pilot.press("exclamation_mark")
        await settle(pilot)
        second = str(status.render()).splitlines()[1]
        assert "problems only" in second[:60]  # ahead of the refresh times, on screen at 80


async def test_link_keys_without_a_link_say_why():
    from tests.scenes import flow_no_return_url

    harness = build(return_url=None)
    async with harness.app.run_test(size=(120, 40), notifications=True) as pilot:
        await flow_no_return_url(pilot, harness)
        for key in ("y", "m", "o"):
            harness.app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            said = notes(harness.app)
            assert len(said) == 1 and said[0].startswith("No link: No return URL configured")
            assert "start layers-tui again" in said[0]


async def test_read_only_never_sends_the_user_to_a_key_that_refuses():
    harness = build(read_only=True)
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        line = screen_text(pilot.app)
        assert "press r to send a reconnect link" in line
        assert "(read-only: actions are off here)" in line
        await pilot.press("enter")
        await settle(pilot)
        head = str(pilot.app.screen.query_one("#detail-head").render())
        assert "(read-only: actions are off here)" in head
