"""The connect / reconnect screen: QR code, link, countdown and the poller's view of the state.

With several requests (bulk reauth) it shows one at a time and moves on by itself when the
poller sees completion.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Static

from layers_tui.api import ApiError, format_error
from layers_tui.domain.failures import explain, hint_for
from layers_tui.flows.describe import countdown, flow_status
from layers_tui.flows.engine import new_flow
from layers_tui.flows.model import PendingFlow
from layers_tui.probes import browser_probe
from layers_tui.text import safe

from ..keys import Group, key_hints, read_only_check
from ..messages import ActionFailed, ConsentSent, FlowChanged, FlowMinted, FlowsHalted
from ..widgets.footer import KeyBar
from ..widgets.palette import palette_for
from ..widgets.qr_panel import QrPanel
from .base import ReportsWorkerErrors, ShowsHelp
from .flow_actions import FlowActions
from .flow_layout import FlowLayout
from .flow_requests import (
    UNREACHABLE,
    BulkTally,
    FlowRequest,
    ScreenNote,
    mint_unreachable_text,
    poll_unreachable_text,
)

WAITING_ONLY = frozenset(
    {"copy_link", "copy_message", "open_link", "cancel_flow", "approve", "deny", "time_travel"}
)
DEMO_ONLY = frozenset({"approve", "deny", "time_travel"})
KEY_REJECTED = frozenset({"UNAUTHENTICATED", "INVALID_API_KEY"})


class FlowScreen(FlowActions, FlowLayout, ShowsHelp, ReportsWorkerErrors, Screen):
    ADVANCE_DELAY = 1.5  # seconds to show "connected" before the next account of a bulk run
    BINDINGS = [
        Binding("y", "copy_link", "Copy link"),
        Binding("m", "copy_message", "Copy message"),
        Binding("o", "open_link", "Open"),
        Binding("n", "new_link", "New link"),
        Binding("s", "skip", "Skip"),  # only in a bulk run (`check_action`)
        Binding("ctrl+x", "cancel_flow", "Cancel"),
        Binding("a", "approve", "Approve (demo)", show=False),
        Binding("x", "deny", "Deny (demo)", show=False),
        Binding("t", "time_travel", "+10 min (demo)", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, requests: list[FlowRequest]) -> None:
        super().__init__()
        self.requests = requests
        self.index = 0
        self.flow: PendingFlow | None = None
        self.error: ApiError | None = None
        self.problem: str | None = None
        self.tally = BulkTally()
        self._advance_timer = None
        self._waiting_shown: tuple[bool, bool] | None = None
        self.note: ScreenNote | None = None  # this screen's own news, on its own line

    @property
    def request(self) -> FlowRequest:
        return self.requests[self.index]

    def compose(self) -> ComposeResult:
        with Horizontal(id="flow-body"):
            with Vertical(id="qr-column"):
                yield QrPanel("", id="qr")
                yield Static(id="qr-note")
            with VerticalScroll(id="flow-info"):
                yield Static(id="flow-title")
                yield Static(id="flow-status")
                yield Static(id="flow-note")
                yield Static(id="flow-link")
                yield Static(id="flow-keys")
        yield Static(id="flow-mini")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.render_state)
        self.begin()

    def begin(self) -> None:
        self.flow, self.error, self.problem = None, None, None
        self.note = None
        request = self.request
        if request.flow_id and request.flow_id in self.app.engine.flows:
            self.flow = self.app.engine.flows[request.flow_id]
        elif self.app.settings.read_only:  # e.g. `layers-tui --read-only connect ...`
            self.problem = (
                "layers-tui runs read-only (--read-only or read_only in config): no link is minted."
            )
        else:
            self.mint(request)
        self.render_state()

    # -- minting ------------------------------------------------------------------------------
    @work(group="mint", exclusive=True, exit_on_error=False)
    async def mint(self, request: FlowRequest) -> None:
        app = self.app
        settings = app.settings
        return_url = (
            settings.ads_redirect_url or settings.return_url
            if request.kind == "ads"
            else settings.return_url
        )
        if not return_url:
            variable = "LAYERS_ADS_REDIRECT_URL" if request.kind == "ads" else "LAYERS_RETURN_URL"
            self.problem = (
                f"No return URL configured. Set {variable} (or return_url in the "
                "config file) to an https URL whose host is on your API key's "
                "return URL allowlist, then start layers-tui again (`layers-tui doctor` "
                "shows where each setting comes from)."
            )
            self.render_state()
            return
        client = app.client
        try:
            baseline: list[tuple[str, str]] = []
            if request.kind == "ads":
                page = await client.list_ad_accounts(request.project_id, [request.platform])
                baseline = [(a.ad_account_id, a.token_status) for a in page.items]
                link = await client.ads_oauth_url(request.project_id, request.platform, return_url)
            elif request.kind == "reauth":
                link = await client.social_reauth_url(
                    request.project_id, request.account_id or "", return_url
                )
            else:
                link = await client.social_oauth_url(
                    request.project_id, request.platform, return_url
                )
        except ApiError as error:
            self.post_message(ActionFailed("Minting the link", error))
            return
        flow = new_flow(
            request.kind,
            link,
            project_id=request.project_id,
            project_name=request.project_name,
            platform=request.platform,
            now=app.clock.now(),
            social_account_id=request.account_id,
            account_label=request.account_label,
            timezone=request.timezone,
            ad_baseline=baseline,
        )
        problem = app.flow_minted(flow)  # saved before it is shown, then polled
        self.post_message(FlowMinted(flow, problem))

    def on_flow_minted(self, message: FlowMinted) -> None:
        self.flow = message.flow
        if message.store_problem:
            self.app.notify(message.store_problem, severity="warning", markup=False)
        self.render_state()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.error = message.error
        self.render_state()

    def on_flow_changed(self, message: FlowChanged) -> None:
        if self.flow is None or message.flow.id != self.flow.id:
            return
        was_terminal = self.flow.terminal
        self.flow = message.flow
        if self.flow.terminal:
            self.note = None  # the status now says how it ended
        if self.flow.terminal and not was_terminal and len(self.requests) > 1:
            label = self.request.account_label or self.request.platform
            if self.flow.status == "completed":
                self.tally.done.append(label)
                self._advance_timer = self.set_timer(self.ADVANCE_DELAY, self.advance)
            elif self.flow.status != "cancelled":
                self.tally.failed.append(label)
        self.render_state()

    def on_flows_halted(self, message: FlowsHalted) -> None:
        self.error = message.error
        self.render_state()

    def on_consent_sent(self, message: ConsentSent) -> None:
        # On the screen's own line, not a toast: the status below shows the outcome once
        # the poller sees it, and a toast could cover the QR code.
        outcome = safe(message.outcome, 80)
        self.say(f"Sandbox consent: {message.decision} -> {outcome}", seconds=30)

    def advance(self) -> None:
        if self.index + 1 < len(self.requests):
            self.index += 1
            self.begin()
        else:
            self.render_state()

    # -- rendering ------------------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        self.render_state()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only a waiting flow has a link to share: otherwise its keys show dimmed and do
        nothing (no link minted yet, or the flow is finished). Keys that never apply here
        (the sandbox's consent keys outside --demo, skip with one account) do not exist: not
        on the key bar, in Help or in the palette."""
        if action in DEMO_ONLY and not self.app.settings.demo:
            return False
        if action == "skip" and (len(self.requests) < 2 or self.bulk_finished):
            return False
        if read_only_check(self, action) is None:
            return None  # n mints: dimmed in --read-only (pressing it says why)
        flow = self.flow
        if flow is not None and not flow.terminal:
            return True
        if action in WAITING_ONLY or (action == "new_link" and flow and flow.status == "completed"):
            return None
        return True

    @property
    def bulk_finished(self) -> bool:
        """The last account of a bulk run has an outcome: nothing is left to skip."""
        flow = self.flow
        return self.index == len(self.requests) - 1 and flow is not None and flow.terminal

    def render_state(self) -> None:
        if not self.is_mounted:
            return
        waiting = self.flow is not None and not self.flow.terminal
        allowed = (waiting, self.bulk_finished)
        if allowed != self._waiting_shown:  # what check_action allows has changed
            self._waiting_shown = allowed
            self.refresh_bindings()
        palette = palette_for(self.app)
        now = self.app.clock.now()
        request, flow = self.request, self.flow
        title = Text(request.title, style="bold")
        title.append(f"\n{safe(request.project_name, 60)}")
        if len(self.requests) > 1:
            title.append(
                f"\nAccount {self.index + 1} of {len(self.requests)}"
                f" · {len(self.tally.done)} done · {len(self.tally.failed)} failed"
                f" · {len(self.tally.skipped)} skipped",
                style=palette.accent,
            )
        self.query_one("#flow-title", Static).update(title)
        status = Text()
        link_widget = self.query_one("#flow-link", Static)
        mode = "hidden"
        mint_trouble = self._unreachable_mint() if flow is None else None
        if self.problem:
            status.append(self.problem, style=palette.warning)
            link_widget.update("")
        elif mint_trouble:  # the one message: no "retrying on its own" beside "press n"
            status.append(mint_trouble, style=palette.critical)
            link_widget.update("")
        elif self.error is not None and flow is None:
            status.append(format_error(self.error), style=palette.critical)
            extra = self.error.details.get("host") if self.error.details else None
            hint = hint_for(self.error.code, self.error.details)
            if self.error.code in KEY_REJECTED:
                hint = self.app.key_rejected_text()
            if extra:
                status.append(f"\nRejected host: {safe(extra, 80)}")
            if hint:
                status.append(f"\n{hint}")
            status.append("\nPress n to try again.")
            link_widget.update("")
        elif flow is None:
            status.append("Minting a link…", style=palette.muted)
            link_widget.update("")
        else:
            glyph, words, detail = flow_status(flow, now)
            style = {"completed": palette.ok, "pending": palette.accent}.get(
                flow.status, palette.critical
            )
            status.append(f"{glyph} {words}", style=f"bold {style}")
            trouble = poll_unreachable_text(flow, now, self._api_host)
            if trouble:  # instead of the engine's terse "CONNECTION_FAILED · retry in 9 s"
                status.append(f"\n{trouble}", style=palette.warning)
            elif detail:
                status.append(f"\n{detail}", style=palette.muted)
            left = countdown(flow, now)
            if left:
                status.append(f"\n{left}")
            if flow.status in ("failed", "expired", "cancelled"):
                why = explain(flow.code, flow.kind)
                status.append("\n")
                if why.title != words:  # "Link expired" is already the heading
                    status.append(f"{why.title}: ", style=f"bold {palette.critical}")
                status.append(f"{why.cause}\n{why.next_step}")
                if flow.request_id:
                    status.append(f"\nrequestId {safe(flow.request_id, 40)}")
            if self.error is not None and not (trouble and self.error.code in UNREACHABLE):
                status.append(f"\n{format_error(self.error)}", style=palette.critical)
            mode = self._show_link(flow)
        self._set_layout(mode, flow)
        if len(self.requests) > 1 and self.bulk_finished:
            status.append("\n\nBulk reauth finished: ", style="bold")
            status.append(self.tally.summary())
            status.append(". esc returns to the dashboard.")
        self.query_one("#flow-status", Static).update(status)
        self._show_note(now)
        self.query_one("#flow-keys", Static).update(self._keys_text())

    @property
    def _api_host(self) -> str:
        base_url = self.app.settings.base_url
        return urlsplit(base_url).hostname or base_url

    def _unreachable_mint(self) -> str | None:
        error = self.error
        return None if error is None else mint_unreachable_text(error.code, self._api_host)

    def _keys_text(self) -> Text:
        """The keys that do something now (`keys.key_hints`, enabled ones, the same source
        as the key bar, Help and the palette), a few with what the bar has no room to say."""
        waiting = self.flow is not None and not self.flow.terminal
        notes = {
            "back": " (polling continues; p lists pending flows)" if waiting else "",
            "open_link": "" if browser_probe(self.app.env).ok else " (unavailable here)",
        }
        keys = Text()
        for hint in key_hints(self):
            if hint.group is Group.SCREEN and hint.enabled:
                keys.append(f"\n{hint.keys_display}", style="bold")
                keys.append(f" {hint.description}{notes.get(hint.action, '')}")
        return keys
