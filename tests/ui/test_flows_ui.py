"""The connect / reauth flow screen, end to end against the sandbox, on a fake clock."""

from __future__ import annotations

import zxingcpp

from layers_tui.session.session import FlowRecords
from layers_tui.session.store import Store
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.widgets.footer import KeyBar
from tests.scenes import (
    build,
    highlight_project,
    loaded,
    poll,
    screen_text,
    select_account,
    settle,
    start_reauth,
)
from tests.ui.screen_image import screen_image

SIZE = (120, 40)


def decode(app) -> list[str]:
    image = screen_image(app)
    results = zxingcpp.read_barcodes(image, try_invert=False)
    return [result.text for result in results]


async def test_qr_on_screen_decodes_to_the_exact_url_dark_and_light():
    for theme in ("textual-dark", "textual-light"):
        harness = build(theme=theme)
        async with harness.app.run_test(size=SIZE) as pilot:
            screen = await start_reauth(pilot)
            await pilot.pause()
            assert decode(harness.app) == [screen.flow.authorize_url]
            # dark modules on a light background: the quiet zone's top-left cell is white
            image = screen_image(harness.app)
            assert image.getpixel((1, 1)) == (255, 255, 255)


async def test_too_small_terminal_says_how_big_and_keeps_the_link():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        screen = await start_reauth(pilot)
        await pilot.pause()
        text = screen_text(harness.app)
        assert "The QR code needs a 73x38 terminal (this one is 80x24)" in text
        assert decode(harness.app) == []
        await pilot.press("y")
        assert harness.app.clipboard == screen.flow.authorize_url
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert decode(harness.app) == [screen.flow.authorize_url]


async def test_reauth_completes_keeps_the_id_and_updates_the_dashboard():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        account_id = screen.flow.social_account_id
        await poll(pilot, harness, 12)
        assert screen.flow.status == "pending" and screen.flow.attempts >= 2
        await pilot.press("a")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.status == "completed"
        assert screen.flow.result_account_id == account_id
        assert "Connected acme_baristas" in screen_text(harness.app)
        await pilot.press("escape")
        await settle(pilot)
        row = next(r for r in harness.app.screen.visible_rows if r.key == account_id)
        assert row.status == "connected"


async def test_deny_explains_and_n_mints_a_new_state():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        first_state = screen.flow.state
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.code == "platform_denied"
        text = screen_text(harness.app)
        assert "Cancelled by the account owner" in text and "press n" in text.lower()
        await pilot.press("n")
        await settle(pilot)
        assert screen.flow.status == "pending" and screen.flow.state != first_state


async def test_expiry_at_ten_minutes():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        await poll(pilot, harness, 590)
        assert screen.flow.status == "pending"
        await poll(pilot, harness, 11)
        assert screen.flow.status == "expired"
        assert "Link expired" in screen_text(harness.app)


async def test_demo_clock_jump_lets_the_link_expire_now():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        assert "t +10 min (demo)" in screen_text(harness.app)
        before = harness.clock.now()
        await pilot.press("t")
        await settle(pilot)
        assert (harness.clock.now() - before).total_seconds() == 600
        await poll(pilot, harness, 1)  # the real loop is woken; tests tick by hand
        assert screen.flow.status in ("expired", "failed")
        assert "Link expired" in screen_text(harness.app)


async def test_demo_keys_do_nothing_outside_the_demo():
    harness = build(demo=False)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        before = harness.clock.now()
        await pilot.press("t", "a")
        await settle(pilot)
        assert harness.clock.now() == before and screen.flow.status == "pending"
        assert "+10 min" not in screen_text(harness.app)  # not offered either


async def test_outcomes_are_saved_at_once_poll_bookkeeping_is_not_saved_every_poll():
    harness = build()
    saves: list[int] = []
    async with harness.app.run_test(size=SIZE) as pilot:
        records = harness.app.store
        save = records.save
        records.save = lambda flows, now: saves.append(1) or save(flows, now)
        screen = await start_reauth(pilot)
        after_mint = len(saves)
        assert after_mint >= 1
        await poll(pilot, harness, 30)  # six polls, still pending
        assert screen.flow.status == "pending" and screen.flow.attempts >= 6
        assert len(saves) <= after_mint + 1  # at most the debounced bookkeeping write
        before_outcome = len(saves)
        await pilot.press("a")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.status == "completed"
        assert len(saves) == before_outcome + 1
    stored = stored_flows(harness.state_dir, harness.clock.now())
    assert [flow.status for flow in stored if flow.id == screen.flow.id] == ["completed"]


async def test_handoff_message_and_open_rules():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await start_reauth(pilot)
        await pilot.press("m")
        message = harness.app.clipboard
        assert screen.flow.authorize_url in message
        assert "07:10 America/New_York on 20 Nov" in message  # project's timezone
        await pilot.press("o")
        await pilot.pause()
        assert harness.opened == []
        assert any("Not opening a browser" in n.message for n in harness.app._notifications)
        harness.app.env = {"DISPLAY": ":0"}
        await pilot.press("o")
        await settle(pilot)
        assert harness.opened == [screen.flow.authorize_url]


async def test_restart_mid_flow_resumes_and_completes(tmp_path):
    first = build(state_dir=tmp_path)
    async with first.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        flow_id, state = screen.flow.id, screen.flow.state
    assert any(f.id == flow_id for f in stored_flows(tmp_path, first.clock.now()))
    second = build(state_dir=tmp_path, clock=first.clock, sandbox=first.sandbox)
    async with second.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        assert second.app.engine.flows[flow_id].state == state
        async with second.control() as control:
            url = second.app.engine.flows[flow_id].authorize_url.split("?")[0]
            await control.post(
                url.replace("http://localhost:8787", ""), data={"decision": "approve"}
            )
        await poll(pilot, second, 6)
        assert second.app.engine.flows[flow_id].status == "completed"


def stored_flows(state_dir, now):
    """The pending flows in the app's local store, read as another process would."""
    store = Store.open(state_dir / "state.sqlite3", now)
    try:
        return FlowRecords(store).load(now).flows
    finally:
        store.close()


async def test_corrupt_store_is_moved_aside_and_rebuilt(tmp_path):
    (tmp_path / "state.sqlite3").write_bytes(b"this is not a database" * 100)
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded_keep_notes(pilot)
        notes = [n.message for n in harness.app._notifications]
        assert any("moved aside" in note and "history" in note for note in notes)
        assert harness.app.dashboard.board.projects  # rebuilt from the API
    assert list(tmp_path.glob("state.sqlite3.corrupt-*"))


async def loaded_keep_notes(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_corrupt_old_flow_file_is_moved_aside(tmp_path):
    (tmp_path / "pending.json").write_text("{garbage")
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        notes = [n.message for n in harness.app._notifications]
        assert any("moved aside" in note for note in notes)
        assert list(tmp_path.glob("pending.json.corrupt-*"))


async def start_bulk(pilot) -> FlowScreen:
    await loaded(pilot)
    await pilot.press("R")  # the list of accounts it would reauth; enter sends them all
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, FlowScreen)
    return screen


async def test_bulk_reauth_moves_on_by_itself_and_sums_up(monkeypatch):
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_bulk(pilot)
        assert len(screen.requests) == 3
        first = screen.flow.id
        await pilot.press("a")
        await settle(pilot)
        monkeypatch.setattr(FlowScreen, "ADVANCE_DELAY", 0.01)
        await poll(pilot, harness, 6)
        await pilot.pause(0.05)  # Textual's own timer moves to the next account
        await settle(pilot)
        assert screen.index == 1 and screen.flow.id != first
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.tally.done and screen.tally.skipped and screen.tally.failed
        text = screen_text(harness.app)
        assert "Bulk reauth finished: 1 reconnected (northwindfitness), 1 failed" in text
        assert "1 skipped (acme_baristas)" in text
        await pilot.press("s")  # skipping a flow that already failed counts it once
        await settle(pilot)
        assert len(screen.tally.failed) == 1 and len(screen.tally.skipped) == 1


async def test_bulk_skip_after_a_failure_moves_on_without_counting_twice():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_bulk(pilot)
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.status == "failed" and screen.index == 0  # waits for n or s
        await pilot.press("s")
        await settle(pilot)
        assert screen.index == 1 and screen.tally.failed and not screen.tally.skipped


async def test_kill_switch_stops_polling_with_a_banner():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        async with harness.control() as control:
            await control.post("/sandbox/faults", json={"killSwitch": "key"})
        await poll(pilot, harness, 6)
        assert harness.app.engine.halted is not None
        before = len(harness.transport.requests)
        await poll(pilot, harness, 120)
        assert len(harness.transport.requests) == before
        assert "KILL_SWITCH" in screen_text(harness.app)
        assert screen.flow.status == "pending"


async def test_ad_connect_completes_on_a_new_valid_row():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await highlight_project(pilot, "Lumen")
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # Meta Ads
        await settle(pilot)
        screen = harness.app.screen
        assert screen.flow.kind == "ads" and screen.flow.state is None
        await pilot.press("a")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert screen.flow.status == "completed" and screen.flow.result_label


async def test_missing_return_url_is_asked_for_not_sent_empty():
    harness = build(return_url=None, ads_redirect_url=None)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        await pilot.press("r")
        await settle(pilot)
        assert "Set LAYERS_RETURN_URL" in screen_text(harness.app)
        assert not [r for r in harness.transport.requests if r.method == "POST"]


async def test_key_bar_dims_keys_a_finished_flow_cannot_use_and_a_click_only_beeps():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        screen = await start_reauth(pilot)
        bar = screen.query_one(KeyBar)
        assert all(hint.enabled for _, _, hint in bar._spans)
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 6)
        await pilot.pause()
        hints = {hint.key: hint for _, _, hint in bar._spans}
        assert not hints["y"].enabled and not hints["o"].enabled and hints["n"].enabled
        beeps = []
        harness.app.bell = lambda: beeps.append(1)
        start = next(start for start, _, hint in bar._spans if hint.key == "y")
        await pilot.click(KeyBar, offset=(start + 1, 0))
        await settle(pilot)
        assert beeps == [1] and screen.flow.code == "platform_denied"
