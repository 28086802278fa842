"""What the environment allows: opening a browser, copying via OSC 52, fitting a QR code.

Pure reads of environment variables and sizes, shared by `doctor` and the flow screen.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str


def browser_probe(env: Mapping[str, str] | None = None) -> Probe:
    """Opening a browser is offered only where one can show up for the user."""
    env = os.environ if env is None else env
    has_display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    over_ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))
    if env.get("BROWSER"):
        return Probe(True, f"BROWSER is set ({env['BROWSER']})")
    if over_ssh and not has_display:
        return Probe(
            False,
            "over SSH without a display: a browser would open on the remote "
            "host (or take over this terminal); use the QR code or copy the link",
        )
    if os.name == "posix" and not has_display and not _is_macos():
        return Probe(
            False,
            "no graphical display (DISPLAY/WAYLAND_DISPLAY unset): use the QR "
            "code or copy the link",
        )
    return Probe(True, "a graphical browser should open")


def clipboard_probe(env: Mapping[str, str] | None = None) -> Probe:
    """OSC 52 never reports success, so this only says how likely it is to work."""
    env = os.environ if env is None else env
    if env.get("TMUX"):
        return Probe(
            False,
            "inside tmux: copy works only with `set -g set-clipboard on` "
            "(and a terminal that supports OSC 52); it cannot be confirmed",
        )
    if env.get("TERM_PROGRAM") == "Apple_Terminal":
        return Probe(False, "macOS Terminal.app ignores OSC 52: select the link text instead")
    if env.get("STY"):
        return Probe(False, "inside GNU screen: OSC 52 is usually not passed through")
    return Probe(
        True,
        "sent to the terminal clipboard via OSC 52 (most modern terminals); "
        "the terminal never confirms it",
    )


def run_command(command: Sequence[str]) -> str | None:
    """`command`'s stdout, stripped; None when it cannot run, fails or takes over a second."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            list(command), capture_output=True, text=True, timeout=1.0, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


TMUX_CLIPBOARD_ADVICE = (
    "tmux has set-clipboard off, so copies stay inside tmux: run "
    "`tmux set -g set-clipboard on` (and add it to ~/.tmux.conf)."
)


def tmux_clipboard_off(
    env: Mapping[str, str] | None = None,
    run: Callable[[Sequence[str]], str | None] = run_command,
) -> bool:
    """Inside tmux, and `tmux show -gv set-clipboard` says off (OSC 52 never leaves tmux).
    Outside tmux, or when tmux cannot be asked, False: no advice is better than wrong advice."""
    env = os.environ if env is None else env
    if not env.get("TMUX"):
        return False
    return run(["tmux", "show", "-gv", "set-clipboard"]) == "off"


# The one rule for where a QR code goes, used by the flow screen and by `doctor`.
QUIET_ZONE = 4  # modules of white around the code, as the QR spec asks
MIN_QUIET_ZONE = 2  # never less, and only on the code's own white panel
SIDE_PANEL = 36  # columns the flow screen's text needs beside the code
# What `doctor` measures with: an authorize URL as long as the longer real ones (the demo's
# sandbox links are ~390 characters).
SAMPLE_AUTHORIZE_URL = "https://www.tiktok.com/v2/auth/authorize/?" + "x" * 358


def qr_cells(data: str, border: int = QUIET_ZONE) -> tuple[int, int]:
    """(columns, rows) of terminal cells the code for `data` takes, two modules per cell
    vertically (ECC L, as the flow screen draws it)."""
    import segno

    width, height = segno.make(data, error="l", boost_error=False).symbol_size(border=border)
    return width, (height + 1) // 2


def qr_layout(data: str, width: int, height: int) -> tuple[str, int, tuple[int, int]]:
    """Where the QR code goes in a `width` x `height` screen: ("side", border, size) beside
    the text, ("full", border, size) alone with one status line, or ("none", 4, needed) when
    even the smallest acceptable drawing does not fit (`needed` is the terminal size it takes).
    A full 4-module quiet zone is preferred; 2 modules only when that makes it fit."""
    for border in (QUIET_ZONE, MIN_QUIET_ZONE):
        columns, rows = qr_cells(data, border)
        if width >= columns + SIDE_PANEL and height >= rows + 1:
            return "side", border, (columns, rows)
        if width >= columns and height >= rows + 1:
            return "full", border, (columns, rows)
    columns, rows = qr_cells(data, MIN_QUIET_ZONE)
    return "none", QUIET_ZONE, (columns, rows + 1)


def qr_fit_probe(
    width: int, height: int, is_terminal: bool = True, data: str = SAMPLE_AUTHORIZE_URL
) -> Probe:
    """Whether the flow screen can draw a scannable code for `data` at this size: the
    same rule (`qr_layout`) the flow screen follows."""
    if not is_terminal or width <= 0 or height <= 0:
        return Probe(
            False,
            "not a terminal (output is piped or redirected): run doctor in the terminal "
            "you will use for the dashboard to check the QR code fits",
        )
    mode, _, (columns, rows) = qr_layout(data, width, height)
    if mode == "side":
        return Probe(
            True, f"terminal {width}x{height} fits a {columns}x{rows} QR code beside the text"
        )
    if mode == "full":
        return Probe(
            True,
            f"terminal {width}x{height} fits a {columns}x{rows} QR code (alone on the screen; "
            f"{columns + SIDE_PANEL} columns put the text beside it)",
        )
    return Probe(
        False,
        f"terminal {width}x{height} is too small for the QR code (it needs {columns}x{rows}): "
        "enlarge it or use the link",
    )


def _is_macos() -> bool:
    return os.uname().sysname == "Darwin" if hasattr(os, "uname") else False
