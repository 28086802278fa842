"""How the flow screen lays itself out: the link (dimmed once used), the QR code beside the
text or alone with one status line, the loopback note under the code, and where toasts may
go (mixed into `FlowScreen`, which provides `flow`, `note` and the widgets)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from layers_tui.flows.describe import countdown, flow_status, link_warning, loopback_note
from layers_tui.flows.model import PendingFlow
from layers_tui.text import safe

from ..keys import hint_line, shown_hints
from ..widgets.footer import KeyBar
from ..widgets.palette import palette_for
from ..widgets.qr_panel import QrPanel, choose_layout

if TYPE_CHECKING:
    from .flow_requests import ScreenNote


class FlowLayout:
    """The flow screen's layout and link (see the module's docstring)."""

    note: ScreenNote | None

    def _show_link(self, flow: PendingFlow) -> str:
        """The link (and the QR code when it fits); returns the layout it needs."""
        qr = self.query_one(QrPanel)
        url = flow.authorize_url
        palette = palette_for(self.app)
        link = Text()
        warning = link_warning(url, self.app.settings.base_url)
        note = loopback_note(url, self.app.settings.demo)
        mode = "hidden"
        note_under_qr = False
        if flow.status == "pending":
            width, height = self.app.size
            mode, border, size = choose_layout(url, width, height)
            if mode != "none":
                qr.set_data(url, border)
                # Under the code when the rows are there (the key bar takes one).
                note_under_qr = note is not None and mode == "side"
                if note_under_qr:
                    note_under_qr = self._show_qr_note(note, size.width, height - size.height - 1)
                link.append(
                    "Show the QR code to the account owner, or send the link "
                    "(m copies a ready-to-send message):\n\n"
                )
            else:
                link.append(
                    f"The QR code needs a {size.width}x{size.height} terminal (this "
                    f"one is {width}x{height}): enlarge the window, or use the link "
                    "below (y copies it).\n\n",
                    style=palette.warning,
                )
        if not note_under_qr:
            self.query_one("#qr-note", Static).display = False
        if flow.terminal:
            # Used, refused or abandoned: shown for the record, never to be sent again.
            after = "" if flow.status == "completed" else " (n mints a new one)"
            link.append(f"This link is finished; do not send it{after}:\n")
            link.append(safe(url, None), style=f"dim {palette.muted}")
        elif warning:
            link.append(f"{warning}\n", style=palette.critical)
            link.append(safe(url, None))
        else:
            link.append(url, style=f"link {url}")
            if note and not note_under_qr:
                link.append(f"\n{note}", style=palette.warning)
        self.query_one("#flow-link", Static).update(link)
        return mode

    def _show_qr_note(self, note: str, width: int, rows: int) -> bool:
        """`note` wrapped to the code's width under it, when `rows` are free there."""
        lines = Text(note).wrap(self.app.console, width)
        if len(lines) > rows:
            return False
        widget = self.query_one("#qr-note", Static)
        widget.update(Text("\n").join(lines))
        widget.display = True
        return True

    def _set_layout(self, mode: str, flow: PendingFlow | None) -> None:
        """side: code and text; full: the code alone with one status line; otherwise text.
        Toasts keep off the code (flow.tcss): with the code beside the text they are no
        wider than the text column, and with the code alone they wait until it is gone."""
        self.query_one(QrPanel).display = mode in ("side", "full")
        self.query_one("#flow-info").display = mode != "full"
        self.query_one(KeyBar).display = mode != "full"
        self.set_class(mode == "side", "-qr-side")
        self.set_class(mode == "full", "-qr-full")
        if mode != "side":
            self.query_one("#qr-note", Static).display = False
        mini = self.query_one("#flow-mini", Static)
        mini.display = mode == "full"
        if mode == "full" and flow is not None:
            now = self.app.clock.now()
            glyph, words, _ = flow_status(flow, now)
            if self.note is not None and self.note.until > now:  # the news, for a while
                line = Text(f" {glyph} {self.note.text} · {countdown(flow, now)}")
                line.truncate(self.app.size.width, overflow="ellipsis")
                mini.update(line)
                return
            lead = f" {glyph} {words} · {countdown(flow, now)}"
            # The key bar is hidden here: the same hints (`keys.shown_hints`) go on this line.
            hints = [hint for hint in shown_hints(self) if hint.enabled]
            mini.update(Text(hint_line(hints, self.app.size.width, lead)))
