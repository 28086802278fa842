"""Pydantic models of Partner API payloads. Tolerant: unknown fields are ignored and enum-like
fields are kept as raw strings (see `domain.status` for what we know about them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel


def _timestamp(value: Any) -> datetime | None:
    """Accept `…Z`, milliseconds, microseconds with an offset; a naive time is taken as UTC;
    anything unparsable becomes None rather than sinking the whole record."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # Fields this version does not know are kept (`model_extra`): the detail screen shows
        # every field the API returned, not only the ones we model.
        extra="allow",
        hide_input_in_errors=True,
    )


class WhoAmI(ApiModel):
    organization_id: str
    organization_name: str = ""
    scopes: list[str] = Field(default_factory=list)
    rate_limit_tier: str = "standard"
    api_key_id: str | None = None
    kill_switch: bool = False
    api_access_revoked: bool = False
    credit_balance: float | None = None


class Project(ApiModel):
    id: str
    name: str = ""
    status: str = "active"
    customer_external_id: str | None = None
    timezone: str = "UTC"
    primary_language: str | None = None
    owner_email: str | None = None
    created_at: Timestamp = None


class SocialAccount(ApiModel):
    social_account_id: str
    platform: str
    handle: str
    status: str
    display_name: str | None = None
    avatar_url: str | None = None
    leased: bool = False
    connected_at: Timestamp = None
    token_expires_at: Timestamp = None
    disconnected_reason: str | None = None
    disconnected_at: Timestamp = None


class AdAccount(ApiModel):
    ad_account_id: str
    platform: str
    name: str = ""
    token_status: str = "unknown"
    external_id: str | None = None
    currency: str | None = None
    timezone: str | None = None
    credential_mode: str | None = None
    token_last_validated_at: Timestamp = None
    connected_at: Timestamp = None


class AuthorizeLink(ApiModel):
    """What oauth-url / reauth-url return; the ads route's `url` is mapped onto it."""

    authorize_url: str
    state: str | None = None
    expires_at: Timestamp = None
    platform: str | None = None


class OAuthError(ApiModel):
    code: str = "unknown"
    message: str = ""


class OAuthStatus(ApiModel):
    status: str
    state: str | None = None
    expires_at: Timestamp = None
    social_account_id: str | None = None
    platform: str | None = None
    handle: str | None = None
    connected_at: Timestamp = None
    error: OAuthError | None = None


class RevokeResult(ApiModel):
    social_account_id: str
    status: str = "disconnected"
    disconnected_reason: str | None = None
    canceled_scheduled_posts: int = 0
    disconnected_at: Timestamp = None


class ContentHealth(ApiModel):
    social_account_id: str
    score: float | None = None
    tier: str | None = None
    is_shadowbanned: bool | None = None
    shadowban_severity: str | None = None
    recommendation: str | None = None
    engagement: dict[str, Any] | None = None
    computed_at: Timestamp = None


class InvalidItem(BaseModel):
    """A list item that did not match the model: kept and shown, never fatal for the page."""

    model_config = ConfigDict(frozen=True)
    raw: Any
    problem: str


ItemT = TypeVar("ItemT", bound=ApiModel)


class Page(BaseModel, Generic[ItemT]):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    items: list[ItemT]
    next_cursor: str | None = None
    invalid: list[InvalidItem] = Field(default_factory=list)


def parse_items(model: type[ItemT], raw_items: Any) -> tuple[list[ItemT], list[InvalidItem]]:
    """Validate list items one by one so one odd row cannot sink a page."""
    items: list[ItemT] = []
    invalid: list[InvalidItem] = []
    for raw in raw_items if isinstance(raw_items, list) else []:
        try:
            items.append(model.model_validate(raw))
        except ValidationError as error:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
            invalid.append(InvalidItem(raw=raw, problem=f"unexpected shape ({fields})"))
    return items, invalid
