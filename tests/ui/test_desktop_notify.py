"""Desktop notifications from the open dashboard (issue 12, item 3): on the transitions that
toast, one OSC 9 / OSC 777 sequence or a bell per pass, written through Textual's driver;
API text never ends the sequence early; off unless enabled."""

from __future__ import annotations

import re

import pytest
from textual.app import App

from layers_tui.domain.status import Severity
from layers_tui.ui.desktop_notify import (
    DesktopNotifier,
    Transition,
    osc9,
    osc777,
    resolve_mode,
    tmux_passthrough,
    write_to_terminal,
)
from tests.scenes import build, loaded, settle

SIZE = (120, 40)
NOTIFICATION = re.compile(r"\x1b(?:Ptmux;\x1b)?\x1b?\](?:9|777);")
CONTROL = {chr(c) for c in range(0x20)} | {chr(0x7F)} | {chr(c) for c in range(0x80, 0xA0)}
HOSTILE = "evil\x07\x1b]9;pwned\x1b\\\x9c;tail\r\n"


class Terminal:
    """Stands in for the terminal behind Textual's driver: every raw write, and each bell."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[str] = []
        self.bells = 0
        monkeypatch.setattr(app._driver, "write", self.writes.append)
        monkeypatch.setattr(app, "bell", self._ring)

    def _ring(self) -> None:
        self.bells += 1

    @property
    def notifications(self) -> list[str]:
        """Writes that are desktop notifications (Textual may write pointer shapes too)."""
        return [w for w in self.writes if NOTIFICATION.match(w)]


async def expire(harness, *names: str) -> None:
    """Expire the token of the social account of each name (names unique in the scene)."""
    keys = []
    for name in names:
        [row] = [r for r in harness.app.screen.visible_rows if r.name == name]
        keys.append(row.key)
    async with harness.control() as control:
        for key in keys:
            answer = await control.post(f"/sandbox/social-accounts/{key}/expire-token")
            assert answer.status_code < 300


async def next_pass(pilot, harness) -> None:
    harness.clock.advance(120)
    await pilot.press("ctrl+r")
    await settle(pilot)


def two_connected_in_different_projects(app) -> list[str]:
    rows = app.screen.visible_rows
    unique = {name for name in (r.name for r in rows) if [r.name for r in rows].count(name) == 1}
    chosen: dict[str, str] = {}
    for row in rows:
        healthy = row.status == "connected" and row.severity == Severity.OK
        if row.kind == "social" and healthy and row.name in unique:
            chosen.setdefault(row.project_id, row.name)
    names = list(chosen.values())[:2]
    assert len(names) == 2
    return names


async def test_off_by_default_the_change_only_toasts(monkeypatch):
    harness = build()
    assert harness.app.settings.desktop_notify == "off"
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        await expire(harness, "acmecoffee")
        await next_pass(pilot, harness)
        assert [n.title for n in harness.app._notifications] == ["Got worse"]
        assert terminal.notifications == [] and terminal.bells == 0


async def test_osc9_tells_the_desktop_once_per_change(monkeypatch):
    harness = build(desktop_notify="osc9")
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        await expire(harness, "acmecoffee")
        await next_pass(pilot, harness)
        assert terminal.notifications == [
            "\x1b]9;layers-tui: Got worse: acmecoffee (TikTok): connected → reauth_required\x07"
        ]
        await next_pass(pilot, harness)  # nothing changed: nothing more
        assert len(terminal.notifications) == 1 and terminal.bells == 0


async def test_a_pass_with_several_changes_sends_one_osc777_summary(monkeypatch):
    harness = build(desktop_notify="osc777")
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        names = two_connected_in_different_projects(harness.app)
        await expire(harness, *names)
        await next_pass(pilot, harness)
        # One toast per project's news, but one notification for the pass.
        assert len([n for n in harness.app._notifications if n.title == "Got worse"]) == 2
        assert terminal.notifications == [
            "\x1b]777;notify;layers-tui: Status changes;2 account(s) got worse.\x07"
        ]


@pytest.mark.parametrize("mode", ["osc9", "osc777"])
async def test_a_hostile_handle_cannot_end_or_inject_a_sequence(monkeypatch, mode):
    harness = build(desktop_notify=mode)
    async with harness.control() as control:
        projects = (await control.get("/v1/projects")).json()["items"]
        await control.post(
            f"/sandbox/projects/{projects[0]['id']}/social-accounts",
            json={"handle": HOSTILE, "displayName": HOSTILE, "status": "connected"},
        )
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        [hostile] = [r for r in harness.app.screen.visible_rows if "pwned" in r.name]
        await expire(harness, hostile.name)
        await next_pass(pilot, harness)
        [sent] = terminal.notifications
        head = "\x1b]9;" if mode == "osc9" else "\x1b]777;notify;"
        assert sent.startswith(head) and sent.endswith("\x07")
        inside = sent[len(head) : -1]
        assert not set(inside) & CONTROL, repr(inside)
        assert "pwned" in inside and "␛" in inside  # shown, defused
        fields = inside.split(";")
        assert len(fields) == (1 if mode == "osc9" else 2)  # the handle's ';' split nothing


async def test_bell_mode_rings_the_bell_once_per_pass(monkeypatch):
    harness = build(desktop_notify="bell")
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        await expire(harness, *two_connected_in_different_projects(harness.app))
        await next_pass(pilot, harness)
        assert terminal.bells == 1 and terminal.notifications == []


async def test_inside_tmux_osc_is_wrapped_in_passthrough_and_auto_rings_the_bell(monkeypatch):
    harness = build(desktop_notify="osc9")
    harness.app.env = {"TMUX": "/tmp/tmux-1000/default,4242,0", "TERM_PROGRAM": "tmux"}
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        terminal = Terminal(harness.app, monkeypatch)
        await expire(harness, "acmecoffee")
        await next_pass(pilot, harness)
        text = "layers-tui: Got worse: acmecoffee (TikTok): connected → reauth_required"
        assert terminal.notifications == [f"\x1bPtmux;\x1b\x1b]9;{text}\x07\x1b\\"]
    assert resolve_mode("auto", harness.app.env) == "bell"


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm"}, "osc9"),
        ({"TERM_PROGRAM": "ghostty", "TERM": "xterm-ghostty"}, "osc9"),
        ({"TERM": "xterm-kitty"}, "osc9"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"WT_SESSION": "7b2f", "TERM": "xterm-256color"}, "osc777"),
        ({"VTE_VERSION": "7600", "TERM": "xterm-256color"}, "osc777"),
        ({"TERM": "xterm-256color"}, "bell"),
        ({}, "bell"),
        ({"TMUX": "/tmp/tmux", "TERM_PROGRAM": "iTerm.app"}, "bell"),
    ],
)
def test_auto_picks_by_terminal(env, mode):
    assert resolve_mode("auto", env) == mode


@pytest.mark.parametrize("setting", ["off", "bell", "osc9", "osc777"])
def test_an_explicit_mode_is_kept_whatever_the_terminal(setting):
    assert resolve_mode(setting, {"TERM_PROGRAM": "iTerm.app", "TMUX": "x"}) == setting


def test_sequences_are_framed_and_stripped():
    assert osc9("a;b") == "\x1b]9;layers-tui: a,b\x07"
    assert osc777("t\x1b", "b\x07;c") == "\x1b]777;notify;t␛;b␇,c\x07"
    assert tmux_passthrough("\x1b]9;x\x07") == "\x1bPtmux;\x1b\x1b]9;x\x07\x1b\\"
    assert len(osc9("x" * 5000)) < 220  # one bounded write


def test_without_a_driver_nothing_is_written_and_nothing_raises():
    app = App()  # never run: no driver
    assert write_to_terminal(app, "\x1b]9;x\x07") is False
    notifier = DesktopNotifier(app, "osc9")
    notifier.add([Transition(True, "a (TikTok): connected → reauth_required")])
    notifier.flush()
    assert notifier.pending == [] and notifier.sent == 0


def test_a_terminal_that_fails_a_write_never_breaks_the_refresh():
    def broken(data: str) -> bool:
        raise OSError("terminal gone")

    notifier = DesktopNotifier(App(), "osc777", write=broken)
    notifier.add([Transition(False, "a (TikTok): reauth_required → connected")])
    notifier.flush()  # logged, not raised
    assert notifier.sent == 0 and notifier.pending == []


def test_off_collects_nothing():
    notifier = DesktopNotifier(App(), "off")
    notifier.add([Transition(True, "a")])
    assert notifier.pending == [] and not notifier.enabled


def test_the_setting_comes_from_flag_env_or_file_and_a_bad_value_names_its_line(tmp_path):
    from layers_tui.cli import build_parser
    from layers_tui.config import ConfigError, load_settings

    path = tmp_path / "config.toml"
    path.write_text('theme = "textual-dark"\ndesktop_notify = "Auto"\n', encoding="utf-8")
    assert load_settings({}, {}, path, None).settings.desktop_notify == "auto"
    env = {"LAYERS_DESKTOP_NOTIFY": "bell"}
    assert load_settings({}, env, path, None).settings.desktop_notify == "bell"
    flag = build_parser().parse_args(["--desktop-notify", "osc777"]).desktop_notify
    assert load_settings({"desktop_notify": flag}, env, path, None).settings.desktop_notify == (
        "osc777"
    )
    path.write_text('theme = "textual-dark"\ndesktop_notify = "growl"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, path, None)
    assert str(caught.value).startswith(f"{path}:2: desktop_notify: Input should be 'off'")
