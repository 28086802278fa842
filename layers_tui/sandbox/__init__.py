"""A local emulator of the Layers Partner API. Imports nothing else from layers_tui.

Choices made where the contract (/work/shared/layers-api.md) is silent:

- Revoked while a reconnect is pending: revoking (DELETE) drops the token and marks the
  account disconnected, and a disconnected account is never reconnected. A reauth link minted
  before the revoke and approved after it ends `failed` with `persistence_error`, the closest
  documented `layers_oauth_error` (the platform consent succeeded, but the token cannot be
  stored on a disconnected account); the redirect carries it and `oauth-status` answers it with
  a message that says what happened. The account stays `disconnected` with its id; a new
  connect (oauth-url) makes a new `socialAccountId`. The state is failed when the link is
  approved, as a live server would notice it, not at the revoke.
- Scoped keys: `KEY:scope,scope` (`--api-key`, or `create_app(api_keys=[...])`) gives one key
  exactly those scopes of the contract's scope table; a plain `KEY` gets `scopes` (default
  `*`), `KEY:` none (whoami only). A route whose scope the key lacks answers
  `403 FORBIDDEN_SCOPE` with `details.requiredScope` (the field name is a gap in the docs).
  Unknown scope names are refused at start.
- 422 `VALIDATION` lists every problem in `details.issues[]`; policy checks (the return URL
  allowlist, 403) run only once the request is otherwise valid.
- Webhooks (`webhooks.py`): `social_account.connected` on every completed connect and reconnect
  (the contract's state machine chooses both), signed, retried on the 8-step ladder from a
  background thread; `social_account.needs_reauth` is registered and never emitted.
- The default rate-limit tier is `standard`.
- Token expiry is computed on read (`state.effective_status`), never written by a list, and
  lists page by keyset on indexed orders, so a page costs what the page holds.
"""

from .app import create_app
from .clock import SandboxClock

__all__ = ["SandboxClock", "create_app"]
