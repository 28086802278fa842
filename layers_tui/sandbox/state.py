"""The sandbox's world: organisations, keys, projects, accounts and OAuth states in SQLite.

Nothing here speaks HTTP; `app.py` maps requests onto these methods. Every "now" comes from
the injected `SandboxClock`, so expiry can be fast-forwarded in tests and in the demo.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import SandboxClock, iso, parse_iso

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SOCIAL_PLATFORMS = ("tiktok", "instagram")
AD_PLATFORMS = ("meta_ads", "tiktok_ads", "apple_ads")
SOCIAL_STATUSES = ("connected", "reauth_required", "disconnected")
TOKEN_STATUSES = ("valid", "expired", "revoked", "invalid")
STATE_TTL = timedelta(minutes=10)
# Terminal states keep answering oauth-status for a day after expiry, then vanish (404).
STATE_RETENTION = timedelta(hours=24)
OAUTH_ERROR_MESSAGES = {
    "state_expired": "The authorization link expired before consent was given.",
    "platform_denied": "The account owner cancelled on the platform's consent screen.",
    "missing_code": "The platform returned no authorization code.",
    "exchange_failed": "Exchanging the authorization code for a token failed.",
    "persistence_error": "The account could not be stored.",
    "platform_mismatch": "The callback platform does not match the state's platform.",
    "state_terminal": "This authorization attempt has already finished.",
}
# A reauth approved after the account was revoked: the token cannot be stored on a
# disconnected account (it stays disconnected; a new connect makes a new id). The contract's
# closest documented code is `persistence_error`; the message says what happened.
REVOKED_WHILE_PENDING = (
    "persistence_error",
    "The account was disconnected (revoked) while this reconnect link was pending, so it was "
    "not reconnected. Connect it again with a new oauth-url: it gets a new socialAccountId.",
)
TOKEN_LIFETIME = {"tiktok": timedelta(days=30), "instagram": timedelta(days=60)}
KEY_PATTERN = re.compile(r"^lp_(live|test)_([A-Za-z0-9]+)_(.+)$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL, customer_external_id TEXT, timezone TEXT NOT NULL,
    primary_language TEXT NOT NULL, owner_email TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS social_accounts (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, platform TEXT NOT NULL, handle TEXT NOT NULL,
    display_name TEXT, avatar_url TEXT, status TEXT NOT NULL, leased INTEGER NOT NULL,
    connected_at TEXT NOT NULL, token_expires_at TEXT, disconnected_reason TEXT,
    disconnected_at TEXT, queued_posts INTEGER NOT NULL DEFAULT 0, extra TEXT);
CREATE TABLE IF NOT EXISTS ad_accounts (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, platform TEXT NOT NULL,
    external_id TEXT NOT NULL, name TEXT NOT NULL, currency TEXT NOT NULL, timezone TEXT NOT NULL,
    token_status TEXT NOT NULL, token_last_validated_at TEXT, connected_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_states (
    state TEXT PRIMARY KEY, key_id TEXT NOT NULL, kind TEXT NOT NULL, project_id TEXT NOT NULL,
    platform TEXT NOT NULL, social_account_id TEXT, return_url TEXT NOT NULL,
    partner_state TEXT, status TEXT NOT NULL, error_code TEXT, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, completed_at TEXT, error_message TEXT);
CREATE TABLE IF NOT EXISTS idempotency (
    key_id TEXT NOT NULL, endpoint TEXT NOT NULL, idem_key TEXT NOT NULL, body_hash TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (key_id, endpoint, idem_key));
"""
# Pages are read in the order of these indexes, so a page costs what the page holds.
INDEXES = """
CREATE INDEX IF NOT EXISTS projects_by_org ON projects (org_id, seq);
CREATE INDEX IF NOT EXISTS social_by_project ON social_accounts (project_id, connected_at, id);
CREATE INDEX IF NOT EXISTS ads_by_project ON ad_accounts (project_id, connected_at, id);
"""


def effective_status(alias: str = "") -> str:
    """SQL for an account's status as of `:now`: a token past `tokenExpiresAt` needs reauth.

    Computed on read (never a table-wide UPDATE), so listing a page costs the page alone."""
    return (
        f"CASE WHEN {alias}status = 'connected' AND {alias}token_expires_at IS NOT NULL "
        f"AND {alias}token_expires_at <= :now THEN 'reauth_required' ELSE {alias}status END"
    )


SOCIAL_SELECT = f"SELECT *, {effective_status()} AS effective_status FROM social_accounts"


@dataclass
class ApiKey:
    """A key the sandbox accepts, with what the contract says a key carries."""

    secret: str
    key_id: str
    env: str
    org_id: str
    org_name: str
    api_key_id: str
    tier: str = "partner"
    scopes: list[str] = field(default_factory=lambda: ["*"])
    allowed_hosts: set[str] = field(default_factory=lambda: {"localhost"})
    killed: bool = False

    @property
    def prefix(self) -> str:
        return f"lp_{self.env}_{self.key_id}"

    def has_scope(self, scope: str | None) -> bool:
        return scope is None or "*" in self.scopes or scope in self.scopes


class SandboxError(Exception):
    """A contract error: becomes the `{error: {...}}` envelope in `app.py`."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str) -> SandboxError:
    return SandboxError(404, "NOT_FOUND", f"{what} not found.")


def parse_key(raw: str) -> tuple[str, str] | None:
    """Split `lp_<env>_<key_id>_<secret>` on the first two underscores after `lp_`."""
    match = KEY_PATTERN.match(raw)
    return (match.group(1), match.group(2)) if match else None


# Scope strings of the contract's scope table (§2.3); `*` is the full-access sentinel.
KNOWN_SCOPES = frozenset(
    {
        "*",
        "social:read",
        "social:write",
        "projects:read",
        "projects:write",
        "ads:read",
        "ads:write",
        "leased:write",
        "org:admin",
    }
    | {
        f"ads:write:{part}"
        for part in (
            "connect",
            "campaigns",
            "budgets",
            "creative",
            "lifecycle",
            "policy",
            "optimizer_trigger",
            "pending",
            "capi",
            "override",
        )
    }
)


def parse_key_spec(spec: str) -> tuple[str, list[str] | None]:
    """`KEY` or `KEY:scope,scope`: the secret and its scope list (None: the default).

    Keys never contain a colon, so the first one starts the scopes. `KEY:` is a key with no
    scopes at all (it can call only whoami, as rev B of the docs says). Unknown scope strings
    are refused, so a typo cannot silently take a permission away."""
    secret, colon, scope_text = spec.partition(":")
    if not colon:
        return secret, None
    scopes = [part.strip() for part in scope_text.split(",") if part.strip()]
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(sorted(KNOWN_SCOPES))}")
    return secret, scopes


def make_demo_key(rng: random.Random | None = None, env: str = "test") -> str:
    source = rng or random.SystemRandom()
    key_id = "".join(source.choice(CROCKFORD) for _ in range(16))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
    secret = "".join(source.choice(alphabet) for _ in range(43))
    return f"lp_{env}_{key_id}_{secret}"


class World:
    """All sandbox data. Thread-safe: the demo serves it from a uvicorn thread."""

    def __init__(
        self,
        clock: SandboxClock,
        db_path: str = ":memory:",
        rng_seed: int | None = None,
    ) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if db_path != ":memory:":  # a kept world (the demo's): safe, and shared by instances
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        # a --db file from an older sandbox
        for table, column in (("social_accounts", "extra"), ("oauth_states", "error_message")):
            columns = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        self._db.executescript(INDEXES)
        # Seeded randomness makes tokens reproducible for snapshots; otherwise unguessable.
        self._rng: random.Random = (
            random.Random(rng_seed) if rng_seed is not None else (random.SystemRandom())
        )
        self._request_rng: random.Random = (
            random.Random(rng_seed + 1) if rng_seed is not None else random.SystemRandom()
        )
        self.keys: dict[str, ApiKey] = {}
        # Called as (event type, data) after a change is committed (the webhook dispatcher).
        self.on_event: Callable[[str, dict], None] | None = None

    # -- ids -------------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _token(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(CROCKFORD) for _ in range(26))

    def new_token(self, prefix: str) -> str:
        """`prefix` + 26 Crockford characters (event and delivery ids), thread-safe."""
        with self._lock:
            return self._token(prefix)

    def request_id(self) -> str:
        return "req_" + "".join(self._request_rng.choice(CROCKFORD) for _ in range(26))

    # -- keys --------------------------------------------------------------------------------
    def add_key(self, secret: str, org_name: str = "Demo Agency", **options: Any) -> ApiKey:
        parsed = parse_key(secret)
        if parsed is None:
            raise ValueError("API keys look like lp_<live|test>_<keyid>_<secret>")
        env, key_id = parsed
        org_id = options.pop("org_id", None) or self.meta("org_id") or f"org_{self._uuid()}"
        self.set_meta("org_id", org_id)
        key = ApiKey(
            secret=secret,
            key_id=key_id,
            env=env,
            org_id=org_id,
            org_name=org_name,
            api_key_id=f"key_{self._uuid()}",
            **options,
        )
        self.keys[secret] = key
        return key

    def meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # -- projects ------------------------------------------------------------------------------
    def create_project(
        self,
        org_id: str,
        name: str,
        timezone: str,
        customer_external_id: str | None = None,
        primary_language: str = "en",
        owner_email: str | None = None,
        status: str = "active",
        created_at: datetime | None = None,
    ) -> dict:
        with self._lock:
            now = iso(created_at or self.clock.now())
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM projects").fetchone()[0]
            project_id = f"prj_{self._uuid()}"
            self._db.execute(
                "INSERT INTO projects VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    project_id,
                    org_id,
                    seq,
                    name,
                    status,
                    customer_external_id,
                    timezone,
                    primary_language,
                    owner_email,
                    now,
                    now,
                ),
            )
            return self.get_project(org_id, project_id)

    def resolve_project_id(self, raw: str) -> str:
        """Accept `prj_<uuid>` or a bare UUID (contract §3); anything else is a 400."""
        candidate = raw[4:] if raw.startswith("prj_") else raw
        try:
            uuid.UUID(candidate)
        except ValueError:
            raise SandboxError(
                400,
                "VALIDATION",
                "Malformed project id.",
                {"issues": [{"path": "projectId", "message": "not a project id"}]},
            ) from None
        return f"prj_{candidate.lower()}"

    def get_project(self, org_id: str, project_id: str) -> dict:
        row = self._db.execute(
            "SELECT * FROM projects WHERE id = ? AND org_id = ?", (project_id, org_id)
        ).fetchone()
        if row is None:
            raise not_found("Project")
        return _project_json(row)

    def list_projects(
        self,
        org_id: str,
        status: str | None,
        search: str | None,
        customer_external_id: str | None,
        before_seq: int | None = None,
        limit: int = 25,
    ) -> tuple[list[dict], int | None]:
        """Newest first, keyset-paged on `seq`; returns (page, the `seq` to continue before,
        or None on the last page)."""
        sql = "SELECT * FROM projects WHERE org_id = ?"
        params: list[Any] = [org_id]
        if before_seq is not None:
            sql += " AND seq < ?"
            params.append(before_seq)
        if status:
            sql += " AND status = ?"
            params.append(status)
        if search:
            sql += " AND instr(lower(name), lower(?)) > 0"
            params.append(search)
        if customer_external_id:
            sql += " AND customer_external_id = ?"
            params.append(customer_external_id)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit + 1)
        rows = self._db.execute(sql, params).fetchall()
        next_seq = rows[limit - 1]["seq"] if len(rows) > limit else None
        return [_project_json(row) for row in rows[:limit]], next_seq

    # -- social accounts ---------------------------------------------------------------------------
    def add_social_account(
        self,
        project_id: str,
        platform: str,
        handle: str,
        status: str,
        leased: bool = False,
        connected_at: datetime | None = None,
        token_expires_at: datetime | None = None,
        queued_posts: int = 0,
        display_name: str | None = None,
        extra_fields: dict | None = None,
        returning: bool = True,
    ) -> dict | None:
        """`extra_fields`: fields the contract does not document, as a future API might send
        (a test hook for clients that must show what they do not model). `returning=False`
        skips reading the row back (bulk seeding)."""
        with self._lock:
            account_id = f"sa_{self._uuid()}"
            connected = connected_at or self.clock.now()
            expires = None if leased else token_expires_at
            disconnected = status == "disconnected"
            self._db.execute(
                "INSERT INTO social_accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    account_id,
                    project_id,
                    platform,
                    handle,
                    display_name or handle,
                    f"https://cdn.sandbox.layers.invalid/avatars/{account_id}.png",
                    status,
                    int(leased),
                    iso(connected),
                    iso(expires),
                    "revoked_by_partner" if disconnected else None,
                    iso(connected + timedelta(days=1)) if disconnected else None,
                    queued_posts,
                    json.dumps(extra_fields) if extra_fields else None,
                ),
            )
            return self.social_account(account_id) if returning else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Many writes as one SQLite transaction (seeding a large organisation)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def social_account(self, account_id: str) -> dict:
        row = self._social_row(account_id)
        if row is None:
            raise not_found("Social account")
        return _social_json(row)

    def _social_row(self, account_id: str) -> sqlite3.Row | None:
        return self._db.execute(
            f"{SOCIAL_SELECT} WHERE id = :id", {"id": account_id, "now": iso(self.clock.now())}
        ).fetchone()

    def social_account_in_org(self, org_id: str, account_id: str) -> sqlite3.Row:
        row = self._db.execute(
            f"SELECT s.*, {effective_status('s.')} AS effective_status FROM social_accounts s "
            "JOIN projects p ON p.id = s.project_id WHERE s.id = :id AND p.org_id = :org",
            {"id": account_id, "org": org_id, "now": iso(self.clock.now())},
        ).fetchone()
        if row is None:
            raise not_found("Social account")
        return row

    def list_social_accounts(
        self,
        project_id: str,
        platform: str | None,
        status: str | None,
        leased: bool | None,
        after: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> tuple[list[dict], bool]:
        """Oldest `connectedAt` first (ties by id), keyset-paged after `after`; returns
        (page, whether more follow). Reads only the page's rows from the index."""
        sql = f"{SOCIAL_SELECT} WHERE project_id = :project"
        params: dict[str, Any] = {
            "project": project_id,
            "now": iso(self.clock.now()),
            "limit": limit + 1,
        }
        if after is not None:
            sql += " AND (connected_at, id) > (:after_at, :after_id)"
            params["after_at"], params["after_id"] = after
        if platform:
            sql += " AND platform = :platform"
            params["platform"] = platform
        if status:
            sql += f" AND {effective_status()} = :status"
            params["status"] = status
        if leased is not None:
            sql += " AND leased = :leased"
            params["leased"] = int(leased)
        sql += " ORDER BY connected_at ASC, id ASC LIMIT :limit"
        rows = self._db.execute(sql, params).fetchall()
        return [_social_json(row) for row in rows[:limit]], len(rows) > limit

    def expire_token(self, org_id: str, account_id: str) -> dict:
        row = self.social_account_in_org(org_id, account_id)
        if row["status"] == "disconnected" or row["leased"]:
            raise SandboxError(409, "CONFLICT", "Only OAuth-connected accounts can be expired.")
        self._db.execute(
            "UPDATE social_accounts SET status = 'reauth_required', token_expires_at = ? "
            "WHERE id = ?",
            (iso(self.clock.now()), account_id),
        )
        return self.social_account(account_id)

    def revoke(self, org_id: str, account_id: str) -> dict:
        with self._lock:
            row = self.social_account_in_org(org_id, account_id)
            if row["status"] == "disconnected":
                raise not_found("Social account")
            if row["leased"]:
                raise SandboxError(
                    409,
                    "CONFLICT",
                    "Leased accounts are released with DELETE "
                    "/v1/leased-accounts/:id, not revoked.",
                )
            now = iso(self.clock.now())
            canceled = row["queued_posts"]
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE social_accounts SET status = 'disconnected', token_expires_at = NULL, "
                "disconnected_reason = 'revoked_by_partner', disconnected_at = ?, "
                "queued_posts = 0 WHERE id = ?",
                (now, account_id),
            )
            self._db.execute("COMMIT")
            return {
                "socialAccountId": account_id,
                "status": "disconnected",
                "disconnectedReason": "revoked_by_partner",
                "canceledScheduledPosts": canceled,
                "disconnectedAt": now,
            }

    def health(self, org_id: str, account_id: str) -> dict:
        row = self.social_account_in_org(org_id, account_id)
        if row["status"] == "disconnected":
            raise not_found("Social account")
        digest = int(uuid.UUID(account_id[3:]).int % 10_000)
        score = digest % 101
        tiers = [
            (10, "shadowbanned"),
            (25, "new"),
            (45, "cold"),
            (65, "warming_up"),
            (85, "warm"),
            (101, "hot"),
        ]
        tier = next(name for limit, name in tiers if score < limit)
        now = self.clock.now()
        computed = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
        advice = {
            "shadowbanned": "Reach has collapsed; pause for 48 hours, then post original content.",
            "new": "Post at least once a day for two weeks to establish a baseline.",
            "cold": "Engagement is low; try shorter hooks in the first two seconds.",
            "warming_up": "Engagement is rising; keep the current cadence.",
            "warm": "Healthy engagement; test one new format per week.",
            "hot": "Top-tier engagement; this account can carry launches.",
        }
        return {
            "socialAccountId": account_id,
            "score": score,
            "tier": tier,
            "isShadowbanned": tier == "shadowbanned",
            "shadowbanSeverity": "high"
            if score < 5
            else ("low" if tier == "shadowbanned" else None),
            "recommendation": advice[tier],
            "engagement": {
                "views": digest * 37,
                "comments": digest // 9,
                "saves": digest // 13,
                "shares": digest // 17,
                "postsLast30Days": digest % 31,
            },
            "computedAt": iso(computed),
        }

    # -- ad accounts ----------------------------------------------------------------------------
    def add_ad_account(
        self,
        project_id: str,
        platform: str,
        name: str,
        token_status: str,
        currency: str = "USD",
        timezone: str = "UTC",
        connected_at: datetime | None = None,
    ) -> dict:
        with self._lock:
            now = connected_at or self.clock.now()
            external = {
                "meta_ads": f"act_{self._rng.randrange(10**14, 10**15)}",
                "tiktok_ads": str(self._rng.randrange(10**18, 10**19)),
                "apple_ads": f"org-{self._rng.randrange(10**6, 10**7)}",
            }.get(platform, self._token("ext_"))
            account_id = self._token("")
            self._db.execute(
                "INSERT INTO ad_accounts VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    account_id,
                    project_id,
                    platform,
                    external,
                    name,
                    currency,
                    timezone,
                    token_status,
                    iso(now) if token_status == "valid" else None,
                    iso(now),
                ),
            )
            return self.ad_account(account_id)

    def ad_account(self, account_id: str) -> dict:
        row = self._db.execute("SELECT * FROM ad_accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise not_found("Ad account")
        return _ad_json(row)

    def list_ad_accounts(self, project_id: str, platforms: list[str], healthy: bool) -> list[dict]:
        sql = "SELECT * FROM ad_accounts WHERE project_id = ?"
        params: list[Any] = [project_id]
        if platforms:
            sql += f" AND platform IN ({','.join('?' * len(platforms))})"
            params.extend(platforms)
        if healthy:
            sql += " AND token_status = 'valid'"
        sql += " ORDER BY connected_at ASC, id ASC"
        return [_ad_json(row) for row in self._db.execute(sql, params)]

    def set_ad_token_status(self, org_id: str, account_id: str, token_status: str) -> dict:
        row = self._db.execute(
            "SELECT a.id FROM ad_accounts a JOIN projects p ON p.id = a.project_id "
            "WHERE a.id = ? AND p.org_id = ?",
            (account_id, org_id),
        ).fetchone()
        if row is None:
            raise not_found("Ad account")
        self._db.execute(
            "UPDATE ad_accounts SET token_status = ? WHERE id = ?", (token_status, account_id)
        )
        return self.ad_account(account_id)

    # -- OAuth states -----------------------------------------------------------------------------
    def mint_state(
        self,
        key: ApiKey,
        kind: str,
        project_id: str,
        platform: str,
        return_url: str,
        social_account_id: str | None = None,
        partner_state: str | None = None,
    ) -> dict:
        with self._lock:
            now = self.clock.now()
            state = self._token("st_")
            expires = now + STATE_TTL
            self._db.execute(
                "INSERT INTO oauth_states (state, key_id, kind, project_id, platform, "
                "social_account_id, return_url, partner_state, status, error_code, created_at, "
                "expires_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    state,
                    key.key_id,
                    kind,
                    project_id,
                    platform,
                    social_account_id,
                    return_url,
                    partner_state,
                    "pending",
                    None,
                    iso(now),
                    iso(expires),
                    None,
                ),
            )
            return {"state": state, "expiresAt": iso(expires)}

    def _state_row(self, state: str) -> sqlite3.Row | None:
        row = self._db.execute("SELECT * FROM oauth_states WHERE state = ?", (state,)).fetchone()
        if row is None:
            return None
        now = self.clock.now()
        expires = parse_iso(row["expires_at"])
        assert expires is not None
        if row["status"] == "pending" and now >= expires:
            self._db.execute(
                "UPDATE oauth_states SET status = 'failed', error_code = 'state_expired' "
                "WHERE state = ? AND status = 'pending'",
                (state,),
            )
            return self._db.execute(
                "SELECT * FROM oauth_states WHERE state = ?", (state,)
            ).fetchone()
        if now >= expires + STATE_RETENTION:
            return None
        return row

    def oauth_status(self, key: ApiKey, state: str) -> dict:
        with self._lock:
            row = self._state_row(state)
            if row is None or row["key_id"] != key.key_id or row["kind"] == "ads":
                raise not_found("OAuth state")
            if row["status"] == "pending":
                return {"state": state, "status": "pending", "expiresAt": row["expires_at"]}
            if row["status"] == "failed":
                code = row["error_code"]
                message = row["error_message"] or OAUTH_ERROR_MESSAGES.get(code, code)
                return {
                    "state": state,
                    "status": "failed",
                    "error": {"code": code, "message": message},
                }
            account = self.social_account(row["social_account_id"])
            return {
                "state": state,
                "status": "completed",
                "socialAccountId": account["socialAccountId"],
                "platform": account["platform"],
                "handle": account["handle"],
                "connectedAt": row["completed_at"],
            }

    def consent_view(self, state: str) -> dict | None:
        """What the consent page shows; None for an unknown token."""
        with self._lock:
            row = self._state_row(state)
            if row is None:
                return None
            project = self._db.execute(
                "SELECT name FROM projects WHERE id = ?", (row["project_id"],)
            ).fetchone()
            view = dict(row)
            view["project_name"] = project["name"] if project else row["project_id"]
            if row["social_account_id"]:
                account = self._social_row(row["social_account_id"])
                view["handle"] = account["handle"] if account else None
            return view

    def decide(
        self, state: str, decision: str, failure_code: str | None = None
    ) -> tuple[str, str | None]:
        """Apply the account owner's decision. Returns (return_url, layers_oauth_error or None)."""
        with self._lock:
            row = self._state_row(state)
            if row is None:
                raise not_found("OAuth state")
            if row["status"] != "pending":
                # The first visit after expiry learns why; any later replay is terminal.
                first_expiry_visit = row[
                    "error_code"
                ] == "state_expired" and not self._was_reported(state)
                code = "state_expired" if first_expiry_visit else "state_terminal"
                self._mark_reported(state)
                return row["return_url"], code
            if decision != "approve":
                code = (
                    "platform_denied" if decision == "deny" else (failure_code or "exchange_failed")
                )
                if code not in OAUTH_ERROR_MESSAGES or code in ("state_terminal", "state_expired"):
                    code = "exchange_failed"
                self._db.execute(
                    "UPDATE oauth_states SET status = 'failed', error_code = ? WHERE state = ?",
                    (code, state),
                )
                self._mark_reported(state)
                return row["return_url"], code
            error = self._complete(row)
            self._mark_reported(state)
            return row["return_url"], error

    def _was_reported(self, state: str) -> bool:
        return self.meta(f"reported:{state}") is not None

    def _mark_reported(self, state: str) -> None:
        self.set_meta(f"reported:{state}", "1")

    def _complete(self, row: sqlite3.Row) -> str | None:
        """Finish an approved state; returns the `layers_oauth_error` code if it failed."""
        now = self.clock.now()
        platform = row["platform"]
        if row["kind"] == "reauth":
            account = self._social_row(row["social_account_id"])
            if account is None or account["status"] == "disconnected":
                code, message = REVOKED_WHILE_PENDING
                self._db.execute(
                    "UPDATE oauth_states SET status = 'failed', error_code = ?, "
                    "error_message = ? WHERE state = ?",
                    (code, message, row["state"]),
                )
                return code
        self._db.execute("BEGIN")
        try:
            if row["kind"] == "connect":
                count = self._db.execute("SELECT COUNT(*) FROM social_accounts").fetchone()[0]
                handle = f"new_{platform}_creator_{count + 1}"
                account_id = f"sa_{self._uuid()}"
                self._db.execute(
                    "INSERT INTO social_accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        account_id,
                        row["project_id"],
                        platform,
                        handle,
                        handle,
                        f"https://cdn.sandbox.layers.invalid/avatars/{account_id}.png",
                        "connected",
                        0,
                        iso(now),
                        iso(now + TOKEN_LIFETIME[platform]),
                        None,
                        None,
                        0,
                        None,
                    ),
                )
            elif row["kind"] == "reauth":
                account_id = row["social_account_id"]
                self._db.execute(
                    "UPDATE social_accounts SET status = 'connected', token_expires_at = ? "
                    "WHERE id = ?",
                    (iso(now + TOKEN_LIFETIME[platform]), account_id),
                )
            else:
                account_id = None
                existing = self._db.execute(
                    "SELECT id FROM ad_accounts WHERE project_id = ? AND platform = ? "
                    "AND token_status != 'valid' ORDER BY connected_at LIMIT 1",
                    (row["project_id"], platform),
                ).fetchone()
                if existing:
                    self._db.execute(
                        "UPDATE ad_accounts SET token_status = 'valid', "
                        "token_last_validated_at = ? WHERE id = ?",
                        (iso(now), existing["id"]),
                    )
                else:
                    count = self._db.execute("SELECT COUNT(*) FROM ad_accounts").fetchone()[0]
                    names = {
                        "meta_ads": "Meta Ads",
                        "tiktok_ads": "TikTok Ads",
                        "apple_ads": "Apple Search Ads",
                    }
                    self.add_ad_account(
                        row["project_id"],
                        platform,
                        f"{names.get(platform, platform)} #{count + 1}",
                        "valid",
                    )
            self._db.execute(
                "UPDATE oauth_states SET status = 'completed', social_account_id = ?, "
                "completed_at = ? WHERE state = ?",
                (account_id, iso(now), row["state"]),
            )
            self._db.execute("COMMIT")
        except Exception:
            self._db.execute("ROLLBACK")
            raise
        if account_id is not None:
            account = self.social_account(account_id)
            self._emit(
                "social_account.connected",
                {
                    "socialAccountId": account_id,
                    "platform": account["platform"],
                    "displayName": account["displayName"],
                    "connectedAt": iso(now),
                },
            )
        return None

    def _emit(self, event_type: str, data: dict) -> None:
        if self.on_event is not None:
            self.on_event(event_type, data)

    # -- idempotency -------------------------------------------------------------------------------
    def idempotent_lookup(self, key_id: str, endpoint: str, idem_key: str) -> sqlite3.Row | None:
        cutoff = iso(self.clock.now() - timedelta(hours=24))
        self._db.execute("DELETE FROM idempotency WHERE created_at < ?", (cutoff,))
        return self._db.execute(
            "SELECT * FROM idempotency WHERE key_id = ? AND endpoint = ? AND idem_key = ?",
            (key_id, endpoint, idem_key),
        ).fetchone()

    def idempotent_store(
        self, key_id: str, endpoint: str, idem_key: str, body_hash: str, status: int, body: dict
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency VALUES (?,?,?,?,?,?,?)",
            (
                key_id,
                endpoint,
                idem_key,
                body_hash,
                status,
                json.dumps(body),
                iso(self.clock.now()),
            ),
        )

    def lock(self) -> threading.RLock:
        return self._lock

    def project_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM projects").fetchone()[0]


def _project_json(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "organizationId": row["org_id"],
        "name": row["name"],
        "status": row["status"],
        "customerExternalId": row["customer_external_id"],
        "timezone": row["timezone"],
        "primaryLanguage": row["primary_language"],
        "ownerEmail": row["owner_email"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _social_json(row: sqlite3.Row) -> dict:
    """The contract's SocialAccount from a row read with `effective_status`."""
    body = {
        "socialAccountId": row["id"],
        "platform": row["platform"],
        "handle": row["handle"],
        "displayName": row["display_name"],
        "avatarUrl": row["avatar_url"],
        "status": row["effective_status"],
        "leased": bool(row["leased"]),
        "connectedAt": row["connected_at"],
        "tokenExpiresAt": row["token_expires_at"],
    }
    if row["effective_status"] == "disconnected":
        body["disconnectedReason"] = row["disconnected_reason"]
        body["disconnectedAt"] = row["disconnected_at"]
    if row["extra"]:
        for name, value in json.loads(row["extra"]).items():
            body.setdefault(name, value)  # never overrides a documented field
    return body


def _ad_json(row: sqlite3.Row) -> dict:
    return {
        "adAccountId": row["id"],
        "platform": row["platform"],
        "externalId": row["external_id"],
        "name": row["name"],
        "currency": row["currency"],
        "timezone": row["timezone"],
        "credentialMode": "byo",
        "tokenStatus": row["token_status"],
        "tokenLastValidatedAt": row["token_last_validated_at"],
        "connectedAt": row["connected_at"],
    }
