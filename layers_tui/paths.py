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


def flows_dir(base_url: str, key_id: str | None, demo: bool = False) -> Path:
    """Pending flows are kept per API host and key: another profile, organisation or the
    demo never resumes (and polls with the wrong key) flows it did not start. The demo's
    live with its world, which keeps its key and port between runs."""
    if demo:
        return demo_dir() / "flows"
    from urllib.parse import urlsplit

    host = urlsplit(base_url).netloc or "api"
    scope = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{host}-{key_id or 'key'}")
    return state_dir() / "flows" / scope


def demo_dir() -> Path:
    """The demo's own world (sandbox database) and flows, apart from real ones."""
    return state_dir() / "demo"
