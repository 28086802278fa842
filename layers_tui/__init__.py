"""layers-tui: a terminal dashboard for the Layers Partner API."""

__version__ = "0.1.0"
