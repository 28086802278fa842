"""The flow screen's actions: what its keys do."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.widgets import Static

from layers_tui.api import ApiError
from layers_tui.flows.describe import handoff_message, link_warning
from layers_tui.probes import browser_probe

from ..messages import ActionFailed, ConsentSent
from .flow_requests import ScreenNote

if TYPE_CHECKING:
    from layers_tui.flows.model import PendingFlow

    from .flow_requests import BulkTally, FlowRequest


DEMO_JUMP_SECONDS = 600.0


class FlowActions:
    """Mixed into `FlowScreen`, which holds the flow, its requests and renders them."""

    flow: PendingFlow | None
    requests: list[FlowRequest]
    index: int
    tally: BulkTally
    note: ScreenNote | None

    # -- the screen's own messages ---------------------------------------------------------
    def say(self, text: str, seconds: float = 8.0) -> None:
        """`text` on this screen's note line (the status line when the code is alone) for
        `seconds` of the app's clock, instead of a toast that could cover the QR code."""
        self.note = ScreenNote(text, self.app.clock.now() + timedelta(seconds=seconds))
        self.render_state()

    def _show_note(self, now: datetime) -> None:
        widget = self.query_one("#flow-note", Static)
        if self.note is not None and self.note.until <= now:
            self.note = None
        widget.display = self.note is not None
        widget.update(Text(self.note.text) if self.note is not None else "")

    # -- keys whose binding is off now ---------------------------------------------------------
    # `check_action` dims y/m/o once the flow is finished, so their binding does not run;
    # the key still reaches the screen, which says why instead of staying silent.
    def key_y(self) -> None:
        self._say_link_finished()

    def key_m(self) -> None:
        self._say_link_finished()

    def key_o(self) -> None:
        self._say_link_finished()

    def key_n(self) -> None:
        if self.app.settings.read_only:
            self.app.refuse_if_read_only("Minting a link")  # the binding is dimmed

    def _say_link_finished(self) -> None:
        flow = self.flow
        if flow is None and self.problem:  # nothing was minted: say why, not nothing
            self.app.notify(f"No link: {self.problem}", markup=False, timeout=8)
            return
        if flow is None or not flow.terminal:
            return  # the binding did the work (or the link is still being minted)
        if flow.status == "completed":
            message = "This link was used: the account is connected."
        else:
            why = {"expired": "Link expired", "cancelled": "Link cancelled"}.get(
                flow.status, "Link refused"
            )
            message = f"{why}; press n for a new one."
        self.app.notify(message, markup=False, timeout=5)

    # -- actions -------------------------------------------------------------------------------
    def action_copy_link(self) -> None:
        if self.flow is not None:
            self.app.copy_text(self.flow.authorize_url, "link")

    def action_copy_message(self) -> None:
        if self.flow is not None:
            self.app.copy_text(handoff_message(self.flow), "message for the account owner")

    def action_open_link(self) -> None:
        if self.flow is None:
            return
        url = self.flow.authorize_url
        warning = link_warning(url, self.app.settings.base_url)
        if warning:
            self.app.notify(f"Not opening: {warning}", severity="warning", markup=False)
            return
        probe = browser_probe(self.app.env)
        if not probe.ok:
            self.app.notify(f"Not opening a browser: {probe.detail}.", markup=False, timeout=8)
            return
        self.open_in_browser(url)

    @work(group="open", exit_on_error=False, thread=False)
    async def open_in_browser(self, url: str) -> None:
        opened = await asyncio.to_thread(self.app.opener, url)
        if not opened:
            self.app.notify("No browser could be opened; copy the link with y.", markup=False)

    def action_new_link(self) -> None:
        if self.app.refuse_if_read_only("Minting a link"):
            return
        if self.flow is not None and not self.flow.terminal:
            self.app.engine.cancel(self.flow.id)
        if self._advance_timer is not None:
            self._advance_timer.stop()
        self.flow, self.error, self.problem = None, None, None
        self.mint(self.request)
        self.render_state()

    def action_cancel_flow(self) -> None:
        if self.flow is not None and not self.flow.terminal:
            self.app.engine.cancel(self.flow.id)

    def action_skip(self) -> None:
        if len(self.requests) < 2:
            return
        if self.flow is None or not self.flow.terminal:
            # Only a flow still waiting counts as skipped (a failed one is already counted).
            if self.flow is not None:
                self.app.engine.cancel(self.flow.id)
            self.tally.skipped.append(self.request.account_label or self.request.platform)
        if self.index + 1 < len(self.requests):
            self.index += 1
            self.begin()
        else:
            self.render_state()

    def action_approve(self) -> None:
        self._consent("approve")

    def action_deny(self) -> None:
        self._consent("deny")

    def _demo_only(self, what: str) -> bool:
        if not self.app.settings.demo:
            self.app.notify(f"{what} only in --demo.", markup=False)
        return self.app.settings.demo

    def _consent(self, decision: str) -> None:
        if not self._demo_only("a / x answer the consent page"):
            return
        if self.flow is not None and self.flow.status == "pending":
            self.send_consent(self.flow.authorize_url, decision)

    def action_time_travel(self) -> None:
        if self._demo_only("t moves the sandbox clock"):
            self.jump_clock(DEMO_JUMP_SECONDS)

    @work(group="consent", exit_on_error=False)
    async def jump_clock(self, seconds: float) -> None:
        """Demo: age everything by `seconds`, the sandbox and this app alike, so a link's
        10-minute expiry can be watched without waiting."""
        try:
            await self.app.client.sandbox_advance_clock(seconds)
        except ApiError as error:
            self.post_message(ActionFailed("Moving the sandbox clock", error))
            return
        advance = getattr(self.app.clock, "advance", None)
        if advance is not None:
            advance(seconds)
        self.app.engine.wake()
        self.say(f"Demo clock moved {seconds / 60:g} minutes ahead.", seconds=4)

    @work(group="consent", exit_on_error=False)
    async def send_consent(self, url: str, decision: str) -> None:
        try:
            location = await self.app.client.sandbox_consent(url, decision)
        except ApiError as error:
            self.post_message(ActionFailed("Sandbox consent", error))
            return
        outcome = (
            location.split("layers_oauth_error=")[-1]
            if "layers_oauth_error=" in location
            else "redirected clean (success)"
        )
        self.post_message(ConsentSent(decision, outcome))

    def action_back(self) -> None:
        self.app.pop_screen()
