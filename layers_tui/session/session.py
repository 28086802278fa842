"""Session: what every face (dashboard, check, sync, watch, metrics) is built on.

It owns the one API client, the identity (whoami), the one request budget and the store, and
builds the inventory and the pending-flow store on top. No Textual here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layers_tui.api import ApiError, LayersClient, RateLimitInfo, key_id
from layers_tui.api.client import endpoint_template
from layers_tui.clock import Clock, SystemClock
from layers_tui.domain.status import Thresholds
from layers_tui.flows.budget import RequestBudget
from layers_tui.flows.model import PendingFlow
from layers_tui.flows.store import KEEP_FINISHED, FlowStore, LoadResult
from layers_tui.models import WhoAmI

from .inventory import Inventory, Listener
from .store import JournalEntry, Store, StoreError

if TYPE_CHECKING:
    import httpx

    from layers_tui.config import Settings

log = logging.getLogger("layers_tui.session")


class RequestCounter:
    """Every API request this process made, by endpoint template (ids never appear: see
    `endpoint_template`), method and HTTP status ("error" when no answer came). It is the
    client's request observer; `counts()` may be read from another thread (metrics)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, status: int | None) -> None:
        key = (endpoint_template(path), method, str(status) if status is not None else "error")
        with self._lock:
            self._counts[key] += 1

    def counts(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._counts)


class FlowRecords:
    """Pending flows in the store (the engine's persistence), merged by flow id: a newer
    `updated_at` wins, so two processes never lose each other's news."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, now: datetime) -> LoadResult:
        flows: list[PendingFlow] = []
        skipped = 0
        for document in self.store.flow_documents():
            try:
                flows.append(PendingFlow.from_json(document))
            except (KeyError, TypeError, ValueError, AttributeError):
                skipped += 1
        return LoadResult(flows=flows, skipped=skipped)

    def save(self, flows: Iterable[PendingFlow], now: datetime) -> list[PendingFlow]:
        """Upsert `flows` (others' rows stay) and drop finished ones past keeping."""
        saved = list(flows)
        try:
            self.store.save_flow_documents(
                (flow.id, flow.status, flow.updated_at.timestamp(), flow.to_json())
                for flow in saved
            )
            self.store.prune_flows(now - KEEP_FINISHED)
        except Exception as error:  # sqlite3 errors: disk full, read-only, locked too long
            raise StoreError(
                f"{self.store.path}: cannot save pending flows ({error}); they are kept in "
                "memory and saved again on the next change"
            ) from None
        return saved


def migrate_flow_file(store: Store, legacy_dir: Path, now: datetime) -> LoadResult:
    """Fold the pending-flow JSON file of earlier versions into the store, once. The file is
    kept beside as `pending.json.migrated` (a damaged one as `pending.json.corrupt-…`);
    nothing in it is lost."""
    legacy = FlowStore(legacy_dir)
    if not legacy.path.exists():
        return LoadResult()
    loaded = legacy.load(now)
    FlowRecords(store).save(loaded.flows, now)
    if legacy.path.exists():
        with contextlib.suppress(OSError):
            os.replace(legacy.path, legacy.path.with_name("pending.json.migrated"))
    log.info("moved %d pending flow(s) from %s into the store", len(loaded.flows), legacy.path)
    return loaded


def open_store(path: Path | None, now: datetime) -> tuple[Store, str | None]:
    """The store at `path`, or one in memory (nothing kept) with the reason why."""
    if path is None:
        return Store.memory(), None
    try:
        store = Store.open(path, now)
    except StoreError as error:
        return Store.memory(), f"{error}; running without a local store (nothing is kept)"
    if store.moved_aside is not None:
        return store, (
            f"The local store was unreadable and was moved aside to {store.moved_aside}; it "
            "is rebuilt from the API (the status history it held cannot be rebuilt)."
        )
    return store, None


class Session:
    """Client, identity, budget and store for one API host and key."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        store_path: Path | None = None,
        legacy_flows_dir: Path | None = None,
        listener: Listener | None = None,
        profile: str | None = None,
    ) -> None:
        assert settings.api_key is not None
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.profile = profile
        self.key_id = key_id(settings.api_key)
        self.budget = RequestBudget(self.clock, 120)
        self.requests = RequestCounter()
        self.client = LayersClient(
            settings.base_url,
            settings.api_key,
            transport=transport,
            clock=self.clock,
            on_rate_limit=self._rate_limit_seen,
            observer=self.requests,
        )
        now = self.clock.now()
        self.store, self.store_problem = open_store(store_path, now)
        self.notes: list[str] = []  # things the user should hear once, at start
        if legacy_flows_dir is not None and self.store.persistent:
            try:
                migrated = migrate_flow_file(self.store, legacy_flows_dir, now)
            except Exception as error:  # the JSON store's own errors; never fatal here
                log.warning("could not migrate pending flows: %s", error)
                self.notes.append(f"Pending flows from an earlier version were not read: {error}")
            else:
                if migrated.quarantined is not None:
                    self.notes.append(
                        "The pending-flow file of an earlier version was damaged and moved "
                        f"aside to {migrated.quarantined}; what could be read was kept."
                    )
        self.flow_records = FlowRecords(self.store)
        self.identity: WhoAmI | None = None
        self.inventory = Inventory(
            self.client,
            self.store,
            self.budget,
            self.clock,
            thresholds=Thresholds(
                settings.expiry_warn_days * 86_400, settings.expiry_crit_hours * 3600
            ),
            concurrency=settings.concurrency,
            refresh_interval=settings.refresh_interval,
            listener=listener,
        )

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.settings.base_url).hostname or ""

    def _rate_limit_seen(self, info: RateLimitInfo) -> None:
        """The server's count of what is left wins over our own bookkeeping."""
        if info.bucket == "read-light":
            self.budget.observe_remaining(info.remaining)

    async def identify(self) -> WhoAmI:
        """whoami; adopts the key's tier for the budget. Raises ApiError (KILL_SWITCH when
        the key or organisation is disabled)."""
        whoami = await self.client.whoami()
        self.identity = whoami
        self.budget.set_tier(whoami.rate_limit_tier)
        with contextlib.suppress(Exception):
            self.store.set_meta("organization_name", whoami.organization_name)
            self.store.set_meta("tier", whoami.rate_limit_tier)
        if whoami.kill_switch or whoami.api_access_revoked:
            raise ApiError(
                200, "KILL_SWITCH", "whoami reports this key or organisation as disabled."
            )
        return whoami

    def cached_tier(self) -> None:
        """Start with the tier last seen, so a first pass before whoami answers is paced
        right for a large key."""
        tier = self.store.get_meta("tier")
        if tier:
            self.budget.set_tier(tier)

    def journal(
        self,
        action: str,
        *,
        project_id: str | None = None,
        account_id: str | None = None,
        **detail: Any,
    ) -> None:
        """Record an operator action (mint, connect, revoke, …) with who and where."""
        entry = JournalEntry(
            self.clock.now().timestamp(),
            action,
            self.profile,
            self.key_id,
            self.host,
            project_id,
            account_id,
            detail,
        )
        try:
            self.store.journal_add(entry)
        except Exception as error:
            log.warning("journal entry %s not saved: %s", action, error)

    async def aclose(self) -> None:
        self.inventory.release()
        await self.client.aclose()
        self.store.close()


def open_session(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    listener: Listener | None = None,
    profile: str | None = None,
) -> Session:
    """The session of `settings`' API host and key, with its store where it belongs."""
    from layers_tui import paths

    kid = key_id(settings.api_key)
    return Session(
        settings,
        clock=clock,
        transport=transport,
        store_path=paths.store_path(settings.base_url, kid, settings.demo),
        legacy_flows_dir=paths.flows_dir(settings.base_url, kid, settings.demo),
        listener=listener,
        profile=profile or settings.profile,
    )
