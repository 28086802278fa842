"""The one module that asks platformdirs where things live."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "layers-tui"


def config_dir() -> Path:
    override = os.environ.get("LAYERS_CONFIG_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:  # honoured on every platform, as CLI users expect
        return Path(xdg) / APP
    return platformdirs.user_config_path(APP, appauthor=False)


def default_config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    override = os.environ.get("LAYERS_STATE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / APP
    return platformdirs.user_state_path(APP, appauthor=False)


def log_dir() -> Path:
    override = os.environ.get("LAYERS_LOG_DIR")
    if override:
        return Path(override)
    return platformdirs.user_log_path(APP, appauthor=False)


def _scope(base_url: str, key_id: str | None) -> str:
    """`<host>[_port]-<env>-<keyid>`: a folder or file name for one API host and key. Only
    host and port are used (never a `user:password@` part)."""
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    try:
        port = url.port
    except ValueError:
        port = None
    host = (url.hostname or "api") + (f":{port}" if port else "")
    return "".join(c if c.isalnum() or c in "-." else "_" for c in f"{host}-{key_id or 'key'}")


def flows_dir(base_url: str, key_id: str | None, demo: bool = False) -> Path:
    """Where earlier versions kept pending flows as JSON (now only read once, to move them
    into the store). Per API host and key, like the store; the demo's live with its world."""
    if demo:
        return demo_dir() / "flows"
    return state_dir() / "flows" / _scope(base_url, key_id)


def store_path(base_url: str, key_id: str | None, demo: bool = False) -> Path:
    """The local store (SQLite) of one API host and key: another profile, organisation or
    the demo never reads (or polls flows with the wrong key from) another's store."""
    if demo:
        return demo_dir() / "store.sqlite3"
    return state_dir() / "store" / f"{_scope(base_url, key_id)}.sqlite3"


def demo_dir() -> Path:
    """The demo's own world (sandbox database) and flows, apart from real ones."""
    return state_dir() / "demo"
