"""What the environment allows: opening a browser, copying via OSC 52, fitting a QR code.

Pure reads of environment variables and sizes, shared by `doctor` and the flow screen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def qr_fit_probe(width: int, height: int, needed: tuple[int, int]) -> Probe:
    need_w, need_h = needed
    if width >= need_w and height >= need_h:
        return Probe(True, f"terminal {width}x{height} fits a {need_w}x{need_h} QR code")
    return Probe(
        False,
        f"terminal {width}x{height} is too small for a {need_w}x{need_h} QR "
        f"code: enlarge it or use the link",
    )


def _is_macos() -> bool:
    return os.uname().sysname == "Darwin" if hasattr(os, "uname") else False
