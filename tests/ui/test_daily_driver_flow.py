"""Issue 14, the flow screen and the keys every screen shares: one countdown in an outage,
a finished link dimmed, keys that apply only while they apply, one time zone."""

from __future__ import annotations

import re

from layers_tui.flows.describe import exit_line, loopback_note
from layers_tui.ui.keys import key_hints
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.screens.help import HelpScreen
from layers_tui.ui.widgets.footer import KeyBar
from tests.scenes import (
    build,
    loaded,
    notes,
    poll,
    screen_text,
    settle,
    start_reauth,
)

SIZE = (120, 40)


async def test_an_outage_shows_one_countdown_that_moves():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        harness.transport.offline = True
        await poll(pilot, harness, 8)
        assert screen.flow.failures >= 1
        screen.render_state()
        await pilot.pause()
        text = screen_text(harness.app)
        assert "retrying in" not in text and "next try in" not in text
        waits = re.findall(r"retry in (\d+) s", text)
        assert len(waits) == 1, text
        # The one number counts down with the clock.
        harness.clock.advance(1)
        screen.render_state()
        await pilot.pause()
        later = re.findall(r"retry in (\d+) s", screen_text(harness.app))
        assert later and int(later[0]) == max(0, int(waits[0]) - 1)


async def test_a_finished_link_is_dimmed_with_no_valid_until_and_y_says_why():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        url = screen.flow.authorize_url
        await pilot.press("x")  # the owner denies
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.status == "failed"
        text = screen_text(harness.app)
        assert "Link valid until" not in text
        assert "This link is finished; do not send it" in text
        link = screen.query_one("#flow-link").render()
        spans = [span for span in link.spans if "dim" in str(span.style)]
        assert spans and "link " not in " ".join(str(span.style) for span in link.spans)
        harness.app.copy_to_clipboard("before")
        await pilot.press("y")
        await pilot.pause()
        assert harness.app.clipboard == "before" != url
        assert notes(harness.app)[-1] == "Link refused; press n for a new one."


async def test_y_on_an_expired_link_says_expired_and_on_a_live_one_copies_once():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        harness.app.clear_notifications()
        await pilot.press("y")
        await pilot.pause()
        assert harness.app.clipboard == screen.flow.authorize_url
        assert len(notes(harness.app)) == 1  # the copy, not also a "finished" note
        harness.clock.advance(601)
        await poll(pilot, harness, 1)
        assert screen.flow.status == "expired"
        harness.app.clear_notifications()
        await pilot.press("y")
        await pilot.pause()
        assert notes(harness.app) == ["Link expired; press n for a new one."]
        assert "Link expired at" in screen_text(harness.app)


async def test_after_a_bulk_run_skip_is_no_longer_offered():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("R")
        await settle(pilot)
        if not isinstance(harness.app.screen, FlowScreen):  # the list to confirm first
            await pilot.press("enter")
            await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen) and len(screen.requests) > 1
        assert "skip" in {hint.action for hint in key_hints(screen)}
        for _ in range(len(screen.requests) - 1):
            await pilot.press("s")
            await settle(pilot)
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert screen.bulk_finished
        assert "skip" not in {hint.action for hint in key_hints(screen)}
        assert "s Skip" not in screen_text(harness.app)


async def test_q_goes_back_from_the_flow_screen_and_the_flow_keeps_polling():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert harness.app.is_running and harness.app.screen is not screen
        assert screen.flow.id in harness.app.engine.flows
        assert not harness.app.engine.flows[screen.flow.id].terminal


async def test_question_mark_on_the_flow_screen_lists_its_keys():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await start_reauth(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(harness.app.screen, HelpScreen)
        text = screen_text(harness.app)
        for words in ("y", "Copy link", "n", "New link", "esc q", "Back"):
            assert words in text
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(harness.app.screen, FlowScreen)


async def test_flow_key_bar_keeps_esc_back_at_80_columns():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        screen = await start_reauth(pilot)
        await pilot.pause()
        shown = {hint.action for _, _, hint in screen.query_one(KeyBar)._spans}
        assert "back" in shown and "help" in shown
        assert "esc Back" in screen_text(harness.app)


async def test_demo_says_under_the_qr_that_a_phone_cannot_open_a_loopback_link():
    harness = build()
    async with harness.app.run_test(size=(200, 50)) as pilot:
        screen = await start_reauth(pilot)
        await pilot.pause()
        note = screen.query_one("#qr-note")
        assert note.display
        assert "points at localhost, this computer: a phone" in screen_text(harness.app)
        qr = screen.query_one("#qr").region
        assert note.region.y >= qr.bottom and note.region.x == qr.x
        # No room under the code at 120x40: the same words go beside it, with the link.
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        screen.render_state()
        await pilot.pause()
        assert not note.display
        link = screen.query_one("#flow-link").render().plain
        assert "points at localhost, this computer: a phone" in link
    assert loopback_note("https://www.tiktok.com/auth?x=1") is None
    assert "127.0.0.1" in loopback_note("http://127.0.0.1:8787/consent?s=1")
    assert "Demo:" not in loopback_note("http://[::1]:8787/consent")


async def test_screen_and_exit_message_use_the_projects_zone_and_name_it():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot, "pixelpals_jp")
        flow = screen.flow
        assert flow.timezone != "UTC"
        on_screen = re.search(r"\(at (\d\d:\d\d) (\S+)\)", screen_text(harness.app))
        assert on_screen is not None and on_screen.group(2) == flow.timezone
        line = exit_line(flow)
        assert f"expires {on_screen.group(1)} {flow.timezone}" in line
        assert "UTC" not in line


async def test_read_only_flow_screen_dims_n_and_says_why():
    harness = build(read_only=True)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        flow = harness.app.engine.flows  # nothing pending: open a resumed flow's screen
        assert not flow
        from layers_tui.ui.screens.flow_requests import FlowRequest

        project = harness.app.session.inventory.projects[0]
        screen = FlowScreen([FlowRequest.connect(project, "tiktok")])
        await harness.app.push_screen(screen)
        await settle(pilot)
        hints = {hint.action: hint for hint in key_hints(screen)}
        assert not hints["new_link"].enabled
        harness.app.clear_notifications()
        await pilot.press("n")
        await pilot.pause()
        assert len(notes(harness.app)) == 1 and "read-only" in notes(harness.app)[0]
        assert "no link is minted" in screen_text(harness.app)
        assert not [r for r in harness.transport.requests if r.method == "POST"]
