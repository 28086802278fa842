"""Everything known about one account: API fields, token health, content health."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from layers_tui.api import ApiError, format_error
from layers_tui.domain.status import SEVERITY_GLYPH, AccountRow, age, relative_time
from layers_tui.domain.timeline import HistoryEntry, flaps, history_lines, next_step
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import ContentHealth
from layers_tui.text import safe

from ..keys import read_only_check
from ..messages import HealthFailed, HealthLoaded
from ..widgets.footer import KeyBar
from ..widgets.list_keys import ScrollBody
from ..widgets.palette import palette_for
from .base import ReportsWorkerErrors, ShowsHelp

# How long the details say "reconnected, fetching the new data" before showing the row's
# own (older) words again; a one-project refresh normally lands within seconds.
NEW_DATA_PATIENCE = timedelta(seconds=60)


def _value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"  # as the API wrote it
    if isinstance(value, (dict, list)):  # fields we do not model, as the API sent them
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


class DetailScreen(ShowsHelp, ReportsWorkerErrors, Screen):
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("r", "reauth", "Reauth"),
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("y", "copy_id", "Copy ID"),
        Binding("P", "copy_project", "Copy project ID"),
    ]

    def __init__(
        self,
        row: AccountRow,
        snapshot: ProjectSnapshot | None,
        history: Sequence[HistoryEntry] = (),
        timezone: str = "UTC",
    ) -> None:
        super().__init__()
        self.row = row
        self.timezone = timezone  # the project's, for the reconnect link's expiry
        self.snapshot = snapshot
        self.history = list(history)  # newest first, from the local store
        # When a reconnect of this account finished; until data fetched after it arrives
        # (`follow`), the head says so instead of the old "reauth required … press r".
        self.reconnected_at: datetime | None = None

    def compose(self) -> ComposeResult:
        with ScrollBody(id="detail-body"):
            yield Static(id="detail-head")
            yield Static(id="detail-history")
            yield Static(id="detail-fields")
            yield Static(id="detail-health")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Account details (esc back)"
        self.watch(self.app, "data_error", self._render_fields, init=False)
        self._render_fields()
        health = self.query_one("#detail-health", Static)
        if self.row.kind == "social" and self.row.status != "disconnected":
            health.update(Text("Content health: loading…"))
            self.load_health()
        else:
            health.update(Text("Content health: not available for this account."))

    def follow(self, row: AccountRow, snapshot: ProjectSnapshot | None) -> None:
        """New data for this account (a refresh, a finished reconnect): shown at once."""
        self.row, self.snapshot = row, snapshot
        with contextlib.suppress(Exception):  # the store's trouble never keeps the details away
            self.history = self.app.session.store.history(account_key=row.key, limit=50)
        self._render_fields()
        self.refresh_bindings()  # `r` may apply now, or no longer

    def flow_completed(self, finished_at: datetime) -> None:
        """A connect/reconnect flow of this account finished at `finished_at`. The refresh it
        starts may take seconds to bring the account's new data (the request budget, a pass
        under way); until then the details say it is reconnected, not what was true before."""
        if not self.row.problem:
            return  # the data on screen already shows it fine: nothing stale to cover
        self.reconnected_at = finished_at
        self._render_fields()
        self.refresh_bindings()
        # Data that never comes (the API unreachable) or never changes: the row's own
        # words again after a while, rather than "fetching…" for ever.
        self.set_timer(NEW_DATA_PATIENCE.total_seconds() + 1, self._patience_over)

    def _patience_over(self) -> None:
        self._render_fields()
        self.refresh_bindings()

    @property
    def awaiting_new_data(self) -> bool:
        """A flow finished for this account after its data on screen was fetched."""
        done = self.reconnected_at
        if done is None or self.app.clock.now() - done > NEW_DATA_PATIENCE:
            return False
        fetched = self.snapshot.fetched_at if self.snapshot is not None else None
        return fetched is None or fetched < done

    def _model_fields(self) -> dict:
        if self.snapshot is None:
            return {}
        for account in (*self.snapshot.social, *self.snapshot.ads):
            key = getattr(account, "social_account_id", None) or getattr(
                account, "ad_account_id", None
            )
            if key == self.row.key:
                # Exactly what the API sent: no defaults for fields it left out.
                return account.model_dump(by_alias=True, exclude_unset=True)
        return {}

    def _render_fields(self) -> None:
        row, palette = self.row, palette_for(self.app)
        now = self.app.clock.now()
        head = Text()
        awaiting = self.awaiting_new_data
        if awaiting and self.reconnected_at is not None:
            finished = age(self.reconnected_at, now)
            head.append("✔ reconnected  ", style=palette.ok)
            head.append(f"{row.platform_label} · {safe(row.name, 60)}", style="bold")
            head.append(f"\nIts flow finished {finished}; fetching the account's new data…")
        else:
            head.append(
                f"{SEVERITY_GLYPH[row.severity]} {row.status_label}  ",
                style=palette.for_severity(row.severity),
            )
            head.append(f"{row.platform_label} · {safe(row.name, 60)}", style="bold")
        head.append(f"\nProject {safe(row.project_name, 60)} ({safe(row.project_id, 60)})")
        stale = self.app.data_error
        if stale is not None:
            fetched = self.snapshot.fetched_at if self.snapshot is not None else None
            when = f" (fetched {age(fetched, now)})" if fetched is not None else ""
            head.append(f"\n⚠ Last good data{when}: refreshing fails, ", style=palette.warning)
            head.append(format_error(stale), style=palette.warning)
        head.append("\nToken health: ", style="bold")
        if row.kind == "social":
            expiry = (
                relative_time(row.token_expires_at, now)
                if row.token_expires_at
                else "no expiry reported"
            )
            if expiry.startswith("in "):  # "token expires in 22 days", not "token in 22 days"
                expiry = f"expires {expiry}"
            head.append(f"status {safe(row.status, 40)}, token {expiry}")
        else:
            head.append(f"tokenStatus {safe(row.status, 40)}")
        head.append("\nNext step: ", style="bold")
        if awaiting:  # the row's step ("press r") is from before the reconnect
            head.append("Nothing to do.")
        else:
            head.append(next_step(row, self.app.settings.read_only) or "Nothing to do.")
        self.query_one("#detail-head", Static).update(head)
        self.query_one("#detail-history", Static).update(self._history_text(now))
        table = Table(
            box=None, show_header=False, padding=(0, 2), title="API fields", title_justify="left"
        )
        table.add_column(style="bold")
        table.add_column()
        for name, value in self._model_fields().items():
            table.add_row(Text(safe(name, 40)), Text(safe(_value(value), 300)))
        self.query_one("#detail-fields", Static).update(table)

    def _history_text(self, now: datetime) -> Text:
        text = Text()
        text.append("History", style="bold")
        if not self.history:
            text.append(" (kept locally): no change seen yet.")
            return text
        flapped = flaps(self.history, now)
        text.append(" (kept locally, newest first)")
        if flapped > 1:
            text.append(f" · broke {flapped} times in the last 7 days", style="bold")
        for line in history_lines(self.history, now):
            text.append(f"\n{line}")
        return text

    @work(group="detail", exit_on_error=False)
    async def load_health(self) -> None:
        try:
            health = await self.app.client.social_health(self.row.key)
        except ApiError as error:
            self.post_message(HealthFailed(error))
            return
        self.post_message(HealthLoaded(health))

    def on_health_loaded(self, message: HealthLoaded) -> None:
        self.query_one("#detail-health", Static).update(health_text(message.health))

    def on_health_failed(self, message: HealthFailed) -> None:
        self.query_one("#detail-health", Static).update(
            Text(f"Content health: could not load ({format_error(message.error)})")
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reauth" and (not self.row.can_reauth or self.awaiting_new_data):
            return None  # leased or disconnected: `r` says why (the row's next step too)
        return read_only_check(self, action)

    def key_r(self) -> None:
        if self.awaiting_new_data:  # the binding is off: a second link now would be wrong
            self.app.notify(
                "Reconnected a moment ago; the account's new data is on its way.", markup=False
            )
        elif self.check_action("reauth", ()) is None:
            self.action_reauth()  # the binding is off: the same checks say why

    def action_reauth(self) -> None:
        """The dashboard's `r` for this account."""
        from .dashboard_actions import reauth_account

        reauth_account(self.app, self.row, {self.row.project_id: self.timezone})

    def action_copy_id(self) -> None:
        self.app.copy_text(self.row.key, "account id")

    def action_copy_project(self) -> None:
        self.app.copy_text(self.row.project_id, "project id")


def health_text(health: ContentHealth) -> Text:
    """Content health (post-metrics snapshot, recomputed every 30 min), labelled as such."""
    text = Text()
    text.append("Content health", style="bold")
    text.append(" (from post metrics; not token health)\n")
    text.append(
        f"score {health.score if health.score is not None else '—'}  ·  tier "
        f"{safe(health.tier or '—', 30)}"
    )
    if health.is_shadowbanned:
        text.append(
            f"  ·  SHADOWBANNED ({safe(health.shadowban_severity or '?', 20)})", style="bold"
        )
    if health.recommendation:
        text.append(f"\n{safe(health.recommendation, 300)}")
    if health.engagement:
        parts = [f"{safe(k, 30)} {safe(v, 20)}" for k, v in health.engagement.items()]
        text.append("\n" + " · ".join(parts))
    if health.computed_at:
        text.append(f"\ncomputed {health.computed_at:%Y-%m-%d %H:%M} UTC")
    return text
