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
