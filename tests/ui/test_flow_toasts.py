"""Issue 14: one approve is at most one toast, and no toast covers the QR code."""

from __future__ import annotations

from datetime import timedelta

from textual.geometry import Region
from textual.widgets._toast import Toast

from layers_tui.domain.status import Severity
from layers_tui.session.store import Change
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.widgets.qr_panel import QrPanel
from tests.scenes import (
    build,
    highlight_project,
    loaded,
    notes,
    poll,
    screen_text,
    settle,
    start_reauth,
)

SIZE = (120, 40)


async def approve(pilot, harness) -> None:
    """The demo approve key on the open flow screen, then the polls that see it."""
    await pilot.press("a")
    await settle(pilot)
    await poll(pilot, harness, 6)
    await settle(pilot)


def recovery_recorded(harness, account_key: str) -> bool:
    """The refresh after the flow saw the account recover (what the change toast is about)."""
    history = harness.app.session.store.history(account_key=account_key)
    return any(change.new_status == "connected" for change in history)


async def test_approving_a_reconnect_on_its_screen_shows_no_toast_and_says_it_on_screen():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        account = screen.flow.social_account_id
        harness.app.clear_notifications()
        await pilot.press("a")
        await settle(pilot)
        note = screen.query_one("#flow-note")
        assert note.display and "Sandbox consent: approve -> redirected clean" in str(note.render())
        assert "Sandbox consent: approve" in screen_text(harness.app)
        await poll(pilot, harness, 6)
        await settle(pilot)
        assert screen.flow.status == "completed"
        assert recovery_recorded(harness, account)  # the refresh did see the recovery
        assert notes(harness.app) == []
        text = screen_text(harness.app)
        assert "Connected" in text
        assert not note.display and "Sandbox consent" not in text  # the status says it now


async def test_approving_a_new_connect_on_its_screen_shows_no_toast():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await highlight_project(pilot, "Lumen")
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "enter")  # Instagram
        await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen) and screen.flow.kind == "connect"
        harness.app.clear_notifications()
        await approve(pilot, harness)
        assert screen.flow.status == "completed"
        assert notes(harness.app) == []


async def test_a_reconnect_finished_off_its_screen_is_one_toast_not_two():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        flow = screen.flow
        await pilot.press("escape")  # back to the dashboard; polling continues
        await pilot.pause()
        harness.app.clear_notifications()
        await harness.app.client.sandbox_consent(flow.authorize_url, "approve")
        await poll(pilot, harness, 6)
        await settle(pilot)
        assert harness.app.engine.flows[flow.id].status == "completed"
        assert recovery_recorded(harness, flow.social_account_id)
        assert notes(harness.app) == ["acme_baristas connected in Acme Coffee Roasters."]


def recovery(account_key: str, name: str) -> Change:
    return Change(
        0.0, "proj", "social", account_key, "tiktok", name, "expired", "connected",
        Severity.CRITICAL, Severity.OK,
    )  # fmt: skip


async def test_other_recoveries_still_toast_and_a_flow_covers_one_recovery_for_a_while():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        account = screen.flow.social_account_id
        await approve(pilot, harness)
        harness.app.clear_notifications()
        harness.app.announce_changes([recovery("sa_other", "other_account")])
        await pilot.pause()
        assert notes(harness.app) == ["other_account (TikTok): expired → connected"]
        # A later recovery of the flow's own account is news again (a new event) ...
        harness.app.clear_notifications()
        harness.app.announce_changes([recovery(account, "acme_baristas")])
        await pilot.pause()
        assert notes(harness.app) == ["acme_baristas (TikTok): expired → connected"]
        # ... and so is one long after the flow, even if the refresh never reported it.
        harness.app._remember_flow_outcome(screen.flow)
        harness.clock.advance(timedelta(minutes=11).total_seconds())
        harness.app.clear_notifications()
        harness.app.announce_changes([recovery(account, "acme_baristas")])
        await pilot.pause()
        assert len(notes(harness.app)) == 1


def toasts(app) -> list[Toast]:
    return list(app.screen.query(Toast))


def qr_columns(app, region: Region) -> list[str]:
    lines = screen_text(app).splitlines()
    return [line[region.x : region.right] for line in lines[region.y : region.bottom]]


async def pending_with_toasts(pilot, harness) -> FlowScreen:
    """A waiting flow with a few toasts up, one long, one with a title."""
    screen = await start_reauth(pilot)
    await poll(pilot, harness, 3)
    harness.app.clear_notifications()
    await pilot.pause()
    await pilot.press("y", "m")
    harness.app.notify("word " * 40, title="A long one", severity="warning", markup=False)
    await settle(pilot)
    return screen


async def assert_toasts_keep_off_the_qr(size: tuple[int, int]) -> None:
    harness = build()
    async with harness.app.run_test(size=size, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        await poll(pilot, harness, 3)
        harness.app.clear_notifications()
        await pilot.pause()
        qr = screen.query_one(QrPanel)
        assert qr.display and screen.has_class("-qr-side")
        before = qr_columns(harness.app, qr.region)
        await pilot.press("y", "m")
        harness.app.notify("word " * 40, title="A long one", severity="warning", markup=False)
        await settle(pilot)
        shown = toasts(harness.app)
        assert len(shown) == 3
        for toast in shown:
            assert toast.region.width > 0 and toast.visible
            assert not toast.region.overlaps(qr.region), (toast.region, qr.region)
        assert qr_columns(harness.app, qr.region) == before  # every QR cell as it was


async def test_toasts_keep_off_the_qr_at_120x40():
    await assert_toasts_keep_off_the_qr((120, 40))


async def test_toasts_keep_off_the_qr_at_200x50():
    await assert_toasts_keep_off_the_qr((200, 50))


async def test_without_a_qr_toasts_show_as_usual_at_80x24():
    harness = build()
    async with harness.app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await start_reauth(pilot)
        assert not screen.query_one(QrPanel).display
        harness.app.clear_notifications()
        await pilot.press("y")
        await settle(pilot)
        (toast,) = toasts(harness.app)
        assert toast.visible and toast.region.width == 39  # Textual's own: half the width
        assert "Copied link" in screen_text(harness.app)


async def test_with_the_code_alone_toasts_wait_and_the_screen_line_says_its_news():
    harness = build()
    async with harness.app.run_test(size=(100, 42), notifications=True) as pilot:
        screen = await start_reauth(pilot)
        qr = screen.query_one(QrPanel)
        assert qr.display and screen.has_class("-qr-full")
        before = qr_columns(harness.app, qr.region)
        harness.app.clear_notifications()
        await pilot.press("y", "a")
        await settle(pilot)
        assert notes(harness.app) == ["Copied link"]
        assert all(not toast.visible for toast in toasts(harness.app))
        assert qr_columns(harness.app, qr.region) == before
        mini = str(screen.query_one("#flow-mini").render())
        assert "Sandbox consent: approve" in mini and len(mini) <= 100  # one line, cut
        # Once the code is gone (the flow completed), a toast still live shows again.
        await poll(pilot, harness, 6)
        await settle(pilot)
        assert screen.flow.status == "completed" and not qr.display
        assert not screen.has_class("-qr-full")
        assert all(toast.visible for toast in toasts(harness.app))


async def test_a_new_link_that_fails_after_the_code_alone_shows_the_text_again():
    harness = build()
    async with harness.app.run_test(size=(100, 42)) as pilot:
        screen = await start_reauth(pilot)
        assert screen.has_class("-qr-full") and not screen.query_one("#flow-info").display
        harness.transport.fail_paths.add("reauth-url")
        await pilot.press("n")
        await settle(pilot)
        assert screen.flow is None and screen.error is not None
        assert screen.query_one("#flow-info").display and not screen.has_class("-qr-full")
        assert "Injected failure" in screen_text(harness.app)
