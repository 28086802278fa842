"""Desktop notifications from the open dashboard: on the passes whose accounts got worse or
recovered (the same transitions that toast), one OSC 9 or OSC 777 escape sequence or a bell.

Modes (`desktop_notify` in the config, LAYERS_DESKTOP_NOTIFY, --desktop-notify):

- `off` (default): toasts only.
- `bell`: the terminal bell (Textual's `App.bell`).
- `osc9`: `ESC ] 9 ; text BEL` (iTerm2, WezTerm, ghostty, kitty).
- `osc777`: `ESC ] 777 ; notify ; title ; body BEL` (foot, urxvt with its notify extension,
  WezTerm, ghostty, kitty, Windows Terminal since its OSC 777 support, VTE as patched by
  Fedora).
- `auto`: picked from the environment by `resolve_mode`; the mapping is `AUTO_RULES`, in
  order, and a terminal it does not know gets the bell.

Inside tmux (TMUX set) `osc9` and `osc777` are wrapped in tmux's passthrough
(`ESC P tmux; ... ESC \\`, inner ESCs doubled), which tmux forwards only with
`set -g allow-passthrough on`; `auto` inside tmux rings the bell instead, because TERM and
TERM_PROGRAM name tmux there, not the terminal outside it, and tmux passes a bell on.

Every string in the text comes through `layers_tui.text.safe`, so an account name holding BEL,
ESC or a C1 string terminator can never end the sequence early or start one of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from layers_tui.text import safe

if TYPE_CHECKING:
    from textual.app import App

log = logging.getLogger("layers_tui.ui")

Mode = Literal["off", "bell", "osc9", "osc777"]

ESC = "\x1b"
BEL = "\x07"
APP_TITLE = "layers-tui"
TEXT_LIMIT = 200  # notification centres cut long bodies anyway; keeps one write small

# `auto`, first match wins: (environment variable, how its value must start, mode).
# An empty prefix means "set to anything".
AUTO_RULES: tuple[tuple[str, str, Mode], ...] = (
    ("TERM_PROGRAM", "iTerm.app", "osc9"),
    ("TERM_PROGRAM", "WezTerm", "osc9"),
    ("TERM_PROGRAM", "ghostty", "osc9"),
    ("TERM", "xterm-ghostty", "osc9"),
    ("TERM", "xterm-kitty", "osc9"),
    ("TERM", "foot", "osc777"),  # foot, foot-extra
    ("TERM", "rxvt", "osc777"),  # rxvt-unicode, with its notify extension
    ("WT_SESSION", "", "osc777"),  # Windows Terminal: OSC 9 is ConEmu's there, not a toast
    ("VTE_VERSION", "", "osc777"),  # GNOME Terminal, Ptyxis...: shown where VTE is patched
)


def resolve_mode(setting: str, env: Mapping[str, str]) -> Mode:
    """The mode `setting` means in this environment (`auto` resolved, see AUTO_RULES)."""
    if setting in ("off", "bell", "osc9", "osc777"):
        return setting  # type: ignore[return-value]
    if setting != "auto":
        return "off"
    if env.get("TMUX"):
        return "bell"
    for variable, prefix, mode in AUTO_RULES:
        value = env.get(variable)
        if value and value.startswith(prefix):
            return mode
    return "bell"


def _field(text: str, limit: int) -> str:
    """`text` made safe to sit inside an OSC string: every control character (C0, DEL, C1)
    becomes a visible stand-in, and `;` (the field separator of OSC 777) becomes `,`."""
    return safe(text, limit).replace(";", ",")


def osc9(text: str) -> str:
    # Starts with our name, never "<digit>;" (ConEmu's OSC 9 sub-commands).
    return f"{ESC}]9;{_field(f'{APP_TITLE}: {text}', TEXT_LIMIT)}{BEL}"


def osc777(title: str, body: str) -> str:
    return f"{ESC}]777;notify;{_field(title, 80)};{_field(body, TEXT_LIMIT)}{BEL}"


def tmux_passthrough(sequence: str) -> str:
    """`sequence` wrapped so tmux hands it to the terminal outside (with allow-passthrough)."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ESC}\\"


def sequence_for(mode: Mode, title: str, body: str, in_tmux: bool) -> str | None:
    """The bytes to write for one notification, or None for `off` and `bell`."""
    if mode == "osc9":
        sequence = osc9(f"{title}: {body}")
    elif mode == "osc777":
        sequence = osc777(f"{APP_TITLE}: {title}", body)
    else:
        return None
    return tmux_passthrough(sequence) if in_tmux else sequence


def write_to_terminal(app: App, data: str) -> bool:
    """Write raw `data` to the terminal, between frames; False when there is no driver (not
    running, or a test without one).

    Textual (8.2.8) has no public call for this. `App.copy_to_clipboard` (OSC 52) and
    `App.bell` write through the private `App._driver` exactly like this, so this is the one
    place that touches it."""
    driver = getattr(app, "_driver", None)
    if driver is None:
        return False
    driver.write(data)
    return True


@dataclass(frozen=True)
class Transition:
    """One account that got worse (`worse`) or recovered, as the toast names it."""

    worse: bool
    text: str  # already safe: "name (Platform): old → new"


def summary(transitions: Sequence[Transition]) -> tuple[str, str]:
    """(title, body) of one notification for a pass: the account itself when only one
    changed, otherwise the counts."""
    if len(transitions) == 1:
        [only] = transitions
        return ("Got worse" if only.worse else "Recovered"), only.text
    worse = sum(1 for t in transitions if t.worse)
    better = len(transitions) - worse
    parts = []
    if worse:
        parts.append(f"{worse} account(s) got worse")
    if better:
        parts.append(f"{better} recovered")
    return "Status changes", ", ".join(parts) + "."


@dataclass
class DesktopNotifier:
    """Collects a pass's transitions and tells the desktop once, when `flush` is called
    (the pass ended, or the coalescing timer fired during a long pass)."""

    app: App
    mode: Mode
    in_tmux: bool = False
    write: Callable[[str], bool] | None = None  # default: write_to_terminal(app, ...)
    pending: list[Transition] = field(default_factory=list)
    sent: int = 0  # notifications handed to the terminal

    @classmethod
    def for_app(cls, app: App, setting: str, env: Mapping[str, str] | None) -> DesktopNotifier:
        env = os.environ if env is None else env
        mode = resolve_mode(setting, env)
        return cls(app, mode, in_tmux=bool(env.get("TMUX")))

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def add(self, transitions: Sequence[Transition]) -> None:
        if self.enabled:
            self.pending.extend(transitions)

    def flush(self) -> None:
        """One notification for everything collected since the last flush (none when
        nothing was); never raises into the refresh."""
        if not self.pending:
            return
        transitions, self.pending = self.pending, []
        title, body = summary(transitions)
        try:
            if self.mode == "bell":
                self.app.bell()
                self.sent += 1
                return
            sequence = sequence_for(self.mode, title, body, self.in_tmux)
            write = self.write or (lambda data: write_to_terminal(self.app, data))
            if sequence is not None and write(sequence):
                self.sent += 1
        except Exception as error:  # a terminal gone away must not end the refresh
            log.warning("desktop notification failed: %s", type(error).__name__)
