"""Pure functions deciding what the dashboard shows: no I/O, no Textual."""
