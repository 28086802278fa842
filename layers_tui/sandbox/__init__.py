"""A local emulator of the Layers Partner API. Imports nothing else from layers_tui."""

from .app import create_app
from .clock import SandboxClock

__all__ = ["SandboxClock", "create_app"]
