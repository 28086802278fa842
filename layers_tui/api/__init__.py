"""The only code that speaks HTTP to the Partner API."""

from .client import DEFAULT_BASE_URL, LayersClient, RateLimitInfo, key_env, key_id, mask_key
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    OutcomeUnknownError,
    format_error,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "InvalidResponseError",
    "LayersClient",
    "OutcomeUnknownError",
    "RateLimitInfo",
    "format_error",
    "key_env",
    "key_id",
    "mask_key",
]
