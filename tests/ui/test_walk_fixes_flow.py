"""Walk fix: the flow screen on an unreachable API says one thing, once."""

from __future__ import annotations

from tests.scenes import build, loaded, poll, screen_text, select_account, settle, start_reauth

SIZE = (120, 40)


def flat(text: str) -> str:
    """The screen's words with line wrapping undone, so a sentence can be matched."""
    return " ".join(text.split())


async def test_mint_while_unreachable_says_once_that_it_is_not_retried_and_n_retries():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        harness.transport.offline = True
        await pilot.press("r")
        await settle(pilot)
        text = flat(screen_text(harness.app))
        assert text.lower().count("check the base url") == 1
        assert "retrying on its own" not in text
        assert "No link was minted: localhost cannot be reached (CONNECTION_FAILED)" in text
        assert "not retried by itself" in text and "press n to try again" in text
        harness.transport.offline = False
        await pilot.press("n")
        await settle(pilot)
        assert harness.app.screen.flow is not None
        assert "No link was minted" not in flat(screen_text(harness.app))


async def test_polls_while_unreachable_say_they_retry_by_themselves_and_when():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        screen = await start_reauth(pilot)  # 80x24: no QR code beside the words
        harness.transport.offline = True
        await poll(pilot, harness, 12)
        assert screen.flow.failures >= 1
        screen.render_state()  # the once-a-second repaint, at the fake clock's time
        await pilot.pause()
        text = flat(screen_text(harness.app))
        wait = int((screen.flow.next_poll_at - harness.clock.now()).total_seconds())
        assert f"The poller will retry in {wait} s by itself, until the link expires" in text
        assert text.lower().count("check the base url") == 1
        assert "Press n to try again" not in text
        harness.transport.offline = False
        await poll(pilot, harness, 40)
        assert screen.flow.failures == 0
        assert "cannot be reached" not in flat(screen_text(harness.app))
