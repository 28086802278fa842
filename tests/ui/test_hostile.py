"""Untrusted text from the API is shown literally and never reaches the terminal as control
sequences, markup, links or actions."""

from __future__ import annotations

from layers_tui.text import safe
from layers_tui.ui.screens.confirm import RevokeDialog
from tests.scenes import (
    HOSTILE_HANDLES,
    build,
    highlight_project,
    loaded,
    screen_text,
    select_account,
)

SIZE = (120, 40)
FORBIDDEN = (
    {chr(c) for c in range(0x20) if c not in (0x0A,)}
    | {chr(0x7F)}
    | {chr(c) for c in range(0x80, 0xA0)}
)


async def seed_hostile(harness) -> None:
    async with harness.control() as control:
        projects = (await control.get("/v1/projects")).json()["items"]
        target = next(p for p in projects if p["name"] == "Lumen Skincare")
        for handle in HOSTILE_HANDLES:
            await control.post(
                f"/sandbox/projects/{target['id']}/social-accounts",
                json={"handle": handle, "status": "connected"},
            )
        await control.post(
            f"/sandbox/projects/{target['id']}/social-accounts",
            json={"handle": "future_status", "status": "suspended"},
        )


def assert_terminal_safe(app, allowed_link: str | None = None) -> None:
    """What Textual writes is segment text plus its own style codes: no data may carry
    control characters, links or click actions into it. The only link allowed is the
    authorize URL the app minted and checked."""
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            assert not (set(segment.text) & FORBIDDEN), repr(segment.text)
            style = segment.style
            if style is not None:
                assert not style.link or style.link == allowed_link, style.link
                assert "@click" not in str(style.meta or "")


async def test_hostile_handles_render_literally_everywhere():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await seed_hostile(harness)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        await highlight_project(pilot, "Lumen")
        text = screen_text(harness.app)
        for handle in ("[bold red]ADMIN", "[@click=app.quit]x[/]", "[/]", "東京カフェ☕"):
            assert handle in text
        assert "[link=https://evil.ex" in text  # cut to the column, never interpreted
        assert "evil␛]52;c;aGVsbG8=␇c" in text
        assert "wipe␛[2J␛[Hscreen" in text
        assert "c1\\u009b31mred" in text
        assert "bell␇␍OK" in text
        assert "rtl\\u202eolleh" in text
        assert "unknown (suspended)" in text
        assert_terminal_safe(harness.app)
        # the confirm dialog, the detail screen and the flow screen show the same literals
        await select_account(pilot, "[@click=app.quit]x[/]")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(harness.app.screen, RevokeDialog)
        assert "[@click=app.quit]x[/]" in screen_text(harness.app)
        assert_terminal_safe(harness.app)
        await pilot.press("escape", "enter")
        await loaded(pilot)
        assert "[@click=app.quit]x[/]" in screen_text(harness.app)
        await pilot.press("escape")
        await select_account(pilot, "[link=https://evil.example]support[/link]")
        await pilot.press("enter")
        await loaded(pilot)
        assert "[link=https://evil.example]support[/link]" in screen_text(harness.app)
        assert_terminal_safe(harness.app)
        await pilot.press("escape")
        await select_account(pilot, "evil\x1b]52;c;aGVsbG8=\x07clip")
        await pilot.press("r")
        await loaded(pilot)
        assert safe("evil\x1b]52;c;aGVsbG8=\x07clip") in screen_text(harness.app)
        assert_terminal_safe(harness.app, harness.app.screen.flow.authorize_url)
        assert harness.app.is_running  # no MarkupError took the app down


async def test_hostile_error_messages_in_toasts():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        harness.transport.fail_paths.add("/social/reauth-url")
        await select_account(pilot, "acme_baristas")
        await pilot.press("r")
        await loaded(pilot)
        assert "INTERNAL (500): Injected failure" in screen_text(harness.app)
        assert harness.app.is_running
