"""Issue 14, keys that work where they are shown: `?` and `q` on every screen, `r` in the
details, --read-only dimming c r R d, one short toast per copy."""

from __future__ import annotations

from layers_tui.ui.keys import key_hints
from layers_tui.ui.screens.confirm import RevokeDialog
from layers_tui.ui.screens.connect import ConnectDialog
from layers_tui.ui.screens.dashboard import DashboardScreen
from layers_tui.ui.screens.detail import DetailScreen
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.screens.help import HelpScreen
from layers_tui.ui.screens.pending import PendingScreen
from layers_tui.ui.widgets.footer import KeyBar
from tests.scenes import build, loaded, notes, screen_text, select_account, settle

SIZE = (120, 40)


async def open_details(pilot, name: str) -> DetailScreen:
    await loaded(pilot)
    await select_account(pilot, name)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, DetailScreen)
    return screen


async def test_question_mark_and_q_on_every_screen():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        app = harness.app
        await loaded(pilot)
        openers = {
            DetailScreen: ("enter",),
            PendingScreen: ("p",),
            RevokeDialog: ("d",),
            ConnectDialog: ("c",),
        }
        for kind, keys in openers.items():
            await select_account(pilot, "acmecoffee")
            await pilot.press(*keys)
            await settle(pilot)
            assert isinstance(app.screen, kind), (kind, app.screen)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen), kind
            assert app.screen.origin.__class__ is kind
            await pilot.press("q")  # closes Help
            await pilot.pause()
            assert isinstance(app.screen, kind)
            await pilot.press("q")  # backs out of the screen, never quits
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen) and app.is_running, kind
        await pilot.press("q")  # the dashboard is where q quits
        await pilot.pause()
        assert not app.is_running


async def test_help_lists_enter_for_the_table():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = harness.app.screen
        assert isinstance(help_screen, HelpScreen)
        enter = [hint for hint in help_screen.hints if hint.key == "enter"]
        assert enter and enter[0].description == "Details"
        assert "⏎              Details" in screen_text(harness.app)


async def test_r_in_the_details_sends_a_reconnect_link_as_on_the_dashboard():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        details = await open_details(pilot, "acme_baristas")
        assert "press r to send a reconnect link" in details.row.problem
        assert "r Reauth" in screen_text(harness.app)
        await pilot.press("r")
        await settle(pilot)
        flow_screen = harness.app.screen
        assert isinstance(flow_screen, FlowScreen)
        assert flow_screen.flow.social_account_id == details.row.key
        assert flow_screen.request.timezone == "America/New_York"  # the project's zone
        await pilot.press("escape")
        await pilot.pause()
        assert harness.app.screen is details


async def test_r_in_the_details_of_a_disconnected_account_says_why():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        details = await open_details(pilot, "bloom_weddings")
        assert details.row.status == "disconnected"
        harness.app.clear_notifications()
        await pilot.press("r")
        await settle(pilot)
        assert harness.app.screen is details
        assert "cannot be reauthorised; press c" in notes(harness.app)[-1]


async def test_read_only_dims_c_r_R_d_and_each_press_says_so_once():
    harness = build(read_only=True)
    async with harness.app.run_test(size=(200, 50), notifications=True) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        screen = harness.app.screen
        hints = {hint.action: hint for hint in key_hints(screen)}
        for action in ("connect", "reauth", "bulk_reauth", "revoke"):
            assert not hints[action].enabled, action
        assert hints["pending"].enabled and hints["help"].enabled
        bar = {hint.action: hint for _, _, hint in screen.query_one(KeyBar)._spans}
        assert not bar["reauth"].enabled and bar["pending"].enabled
        for key in ("r", "R", "c", "d"):
            harness.app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            said = notes(harness.app)
            assert len(said) == 1 and "read-only" in said[0], key
        assert harness.app.screen is screen  # nothing opened
        posts = [r for r in harness.transport.requests if r.method == "POST"]
        assert not posts


async def test_read_only_details_dim_r():
    harness = build(read_only=True)
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        details = await open_details(pilot, "acme_baristas")
        hints = {hint.action: hint for hint in key_hints(details)}
        assert not hints["reauth"].enabled
        await pilot.press("r")
        await pilot.pause()
        assert harness.app.screen is details and "read-only" in notes(harness.app)[-1]


async def test_copy_is_one_short_toast_and_tmux_advice_comes_once_when_tmux_says_off():
    asked: list[list[str]] = []

    def tmux(command):
        asked.append(list(command))
        return "off"

    harness = build()
    harness.app.env = {"TMUX": "/tmp/tmux-1000/default,1,0"}
    harness.app.command_runner = tmux
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        harness.app.clear_notifications()
        await pilot.press("y")
        await pilot.pause()
        first = notes(harness.app)
        assert len(first) == 1
        assert first[0].startswith("Copied account id. tmux has set-clipboard off")
        assert asked == [["tmux", "show", "-gv", "set-clipboard"]]
        harness.app.clear_notifications()
        await pilot.press("y")
        await pilot.pause()
        assert notes(harness.app) == ["Copied account id"]
        assert len(asked) == 1


async def test_no_tmux_advice_outside_tmux_or_when_tmux_has_it_on():
    for env, answer in (({}, "off"), ({"TMUX": "x"}, "on"), ({"TMUX": "x"}, None)):
        harness = build()
        harness.app.env = env
        harness.app.command_runner = lambda command, answer=answer: answer
        async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
            await loaded(pilot)
            await select_account(pilot, "acmecoffee")
            harness.app.clear_notifications()
            await pilot.press("y")
            await pilot.pause()
            assert notes(harness.app) == ["Copied account id"], (env, answer)
