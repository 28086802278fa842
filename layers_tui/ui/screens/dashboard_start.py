"""How the dashboard starts: from the local store, at once. A large store is drawn first
from a preview (every project with its saved counts, the table's worst accounts) and read
whole right after that frame is on the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layers_tui.domain.status import Thresholds

from ..board import Board

if TYPE_CHECKING:
    from datetime import datetime

    from ..messages import RefreshFinished

# A store with this many accounts starts from a preview (its PREVIEW_WORST worst accounts):
# reading all of it takes about a second at 40,000.
PREVIEW_ABOVE_ACCOUNTS = 5_000
PREVIEW_WORST = 200
PREVIEW_SETTLE = 0.05  # seconds between the preview's first frame and reading the rest
PREVIEW_LONGEST = 1.0  # seconds: the rest is read by then even if no frame was seen


class DashboardStart:
    app: Any
    board: Board
    filter_text: str
    problems_only: bool
    last_ok_at: datetime | None
    _preview_drawn = False  # the preview's project list is drawn (`preview_drawn`)
    _first_frame = False  # Textual's first frame reached the terminal
    _preview_finishing = False
    _held_finish: RefreshFinished | None = None  # a pass that ended during the preview

    thresholds: Thresholds

    if TYPE_CHECKING:  # the screen's own (never defined here: they would shadow Textual's)

        def render_all(self) -> None: ...
        def refresh(self, *args: Any, **kwargs: Any) -> Any: ...
        def call_after_refresh(self, *args: Any, **kwargs: Any) -> Any: ...
        def set_timer(self, *args: Any, **kwargs: Any) -> Any: ...
        def on_refresh_finished(self, message: RefreshFinished) -> None: ...

    def _load_preview(self) -> bool:
        """A large store is drawn first from a preview (`Board.load_preview`: its counts and
        worst accounts, tens of milliseconds), the rest read once that is on screen
        (`preview_drawn`). In the default view only: a filter needs every row."""
        if self.filter_text or self.problems_only:
            return False
        inventory = self.app.session.inventory
        try:
            if inventory.store.account_count() < PREVIEW_ABOVE_ACCOUNTS:
                return False
            preview = inventory.load_preview(PREVIEW_WORST)
            self.board.load_preview(preview, self.app.clock.now())
        except Exception:  # told by `_load_from_store`, which meets the same store
            self.board = Board(self.thresholds)
            return False
        self.set_timer(PREVIEW_LONGEST, self._preview_overdue)
        return True

    def _preview_overdue(self) -> None:
        """Never left on a preview, whatever became of the frames waited for (or of the
        callback queued on a screen closed since)."""
        self._finish_start()

    def preview_drawn(self) -> None:
        self._preview_drawn = True
        self._finish_after_preview()

    def first_frame_shown(self) -> None:
        """The app's first frame is on the terminal (Textual's `Ready`): frames before it
        are held back while the app mounts."""
        self._first_frame = True
        self._finish_after_preview()

    def _finish_after_preview(self) -> None:
        """Once the preview is drawn and frames reach the terminal, the layout is given a
        moment to settle (a width breakpoint moves the project list after the first layout,
        and its lines are cut again), then one more frame shows it all; the whole store is
        read after that frame."""
        if self._preview_drawn and self._first_frame and not self._preview_finishing:
            self._preview_finishing = True
            self.set_timer(PREVIEW_SETTLE, self._finish_after_frame)

    def _finish_after_frame(self) -> None:
        self.refresh()
        self.call_after_refresh(self._finish_start)

    def _finish_start(self) -> None:
        """Everything the store holds, in a board of its own (once: later calls find no
        preview). A pass that ended meanwhile is taken now, against the whole board."""
        preview = self.board
        if not preview.previewing:
            return
        self.board = Board(self.thresholds)
        if not self._load_from_store():
            self.board.set_projects(preview.projects)  # the API fills them in
        self.render_all()
        held, self._held_finish = self._held_finish, None
        if held is not None:
            self.on_refresh_finished(held)

    def whole_store(self) -> None:
        """Before acting on every row (bulk reauth, export): the whole store, read now if
        only its preview is on screen."""
        if self.board.previewing:
            self._finish_start()

    def _load_from_store(self) -> bool:
        """What the store knew at start: on screen at once, each project with its age."""
        try:
            self.board.load_from(self.app.session)
        except Exception as error:  # an unreadable store: start empty, the API fills it
            self.app.notify(
                f"Could not read the local store ({type(error).__name__}); loading from the API.",
                severity="warning",
                markup=False,
            )
            return False
        newest = self.board.newest_data()
        if newest is not None and (self.last_ok_at is None or newest > self.last_ok_at):
            self.last_ok_at = newest
        return True
