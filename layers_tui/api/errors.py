"""The one exception family of the API layer. Every failure the client can meet becomes an
`ApiError` carrying status, code, message, requestId, details and retry_after."""

from __future__ import annotations

from typing import Any

from layers_tui.text import safe


class ApiError(Exception):
    """An error envelope from the API, or a transport failure mapped onto the same shape."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details or {}
        self.retry_after = retry_after

    def __str__(self) -> str:
        return format_error(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r})"


class ApiConnectionError(ApiError):
    """The server could not be reached, or the connection broke."""


class ApiTimeoutError(ApiError):
    """No (complete) answer within the call's time budget."""


class InvalidResponseError(ApiError):
    """A response that is not what the contract promises (bad JSON, not an envelope)."""


class OutcomeUnknownError(ApiError):
    """A write whose connection broke after sending: it may or may not have happened."""


def format_error(error: ApiError) -> str:
    """One line with code, message and requestId: the only way errors reach users."""
    label = safe(error.code, 60)
    if error.status:
        label += f" ({error.status})"
    line = f"{label}: {safe(error.message, 300)}"
    if error.request_id:
        line += f" [requestId {safe(error.request_id, 60)}]"
    return line
