"""Health from the store: SQL counting agrees with the domain rules row by row."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from layers_tui.check import _due
from layers_tui.domain.status import Thresholds, summarize
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import AdAccount, Project, SocialAccount
from layers_tui.session.health import Selection, health, match_projects
from layers_tui.session.inventory import error_from_record, stored_accounts
from layers_tui.session.store import Store, StoredAccount
from tests.session.test_store import NOW

STATUSES = st.sampled_from(["connected", "reauth_required", "disconnected", "suspended"])
TOKENS = st.sampled_from(["valid", "expired", "revoked", "invalid", "weird"])
OFFSETS = st.one_of(st.none(), st.integers(-3 * 86_400, 30 * 86_400))


@st.composite
def social(draw, number: int) -> SocialAccount:
    offset = draw(OFFSETS)
    return SocialAccount(
        social_account_id=f"sa_{number}",
        platform="tiktok",
        handle=f"h{number}",
        status=draw(STATUSES),
        leased=draw(st.booleans()),
        token_expires_at=None if offset is None else NOW + timedelta(seconds=offset),
    )


@st.composite
def ads(draw, number: int) -> AdAccount:
    return AdAccount(ad_account_id=f"ad_{number}", platform="meta_ads", token_status=draw(TOKENS))


@settings(max_examples=60)
@given(data=st.data())
def test_sql_and_domain_rules_agree(data):
    store = Store.memory()
    project = Project(id="p1", name="One")
    store.replace_projects([{"id": "p1", "name": "One"}], NOW)
    socials = tuple(data.draw(social(n)) for n in range(data.draw(st.integers(0, 12))))
    adverts = tuple(data.draw(ads(n)) for n in range(data.draw(st.integers(0, 6))))
    thresholds = Thresholds(7 * 86_400, 86_400)
    snapshot = ProjectSnapshot(project, socials, adverts, (), None, NOW)
    stored_at = NOW - timedelta(hours=data.draw(st.integers(0, 48)))  # severity stored earlier
    store.save_project("p1", stored_accounts(snapshot, stored_at, thresholds), [], stored_at)
    report = health(store, NOW, thresholds)
    expected = summarize(snapshot.rows(NOW, thresholds))
    assert report.summary == expected
    assert len(report.problems) == expected.critical + expected.warning


def test_selection_and_staleness():
    store = Store.memory()
    store.replace_projects([{"id": "p1", "name": "Acme"}, {"id": "p2", "name": "Bloom"}], NOW)
    thresholds = Thresholds()
    for pid, name in (("p1", "Acme"), ("p2", "Bloom")):
        snap = ProjectSnapshot(
            Project(id=pid, name=name),
            (
                SocialAccount(
                    social_account_id=f"{pid}_a",
                    platform="tiktok",
                    handle="x",
                    status="reauth_required",
                ),
            ),
            (),
            (),
            None,
            NOW,
        )
        store.save_project(
            pid,
            stored_accounts(snap, NOW, thresholds),
            [],
            NOW - timedelta(hours=2 if pid == "p1" else 0),
        )
    report = health(store, NOW, thresholds, Selection(project_ids=("p2",)), max_age=600)
    assert report.summary.critical == 1 and report.project_count == 1
    assert report.stale == []
    everything = health(store, NOW, thresholds, max_age=600)
    assert [r.id for r in everything.stale] == ["p1"]
    records = store.projects()
    assert [r.id for r in match_projects(records, "bloom")] == ["p2"]
    assert [r.id for r in match_projects(records, "P1")] == ["p1"]
    assert match_projects(records, "nosuch") == []


# -- the store's SQL reads against the same computation in Python -----------------------------
KINDS = st.sampled_from(["social", "ad", "other"])
ANY_STATUS = st.sampled_from(
    ["connected", "disconnected", "reauth_required", "valid", "expired", "revoked", "invalid", "?"]
)


@st.composite
def stored(draw, number: int) -> StoredAccount:
    offset = draw(OFFSETS)
    return StoredAccount(
        kind=draw(KINDS),
        key=f"k{number}",
        platform=draw(st.sampled_from(["tiktok", "meta_ads"])),
        name=f"n{number}",
        status=draw(ANY_STATUS),
        severity=draw(st.integers(0, 3)),
        expires_at=None if offset is None else NOW.timestamp() + offset,
        leased=False,
        doc={"id": f"k{number}"},
    )


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_state_counts_equal_counting_every_account_in_python(data):
    """The whole-store counts (pairs sought in the index, the connected ones by subtraction)
    and the narrowed ones (grouped) both equal a Counter over every stored account."""
    store = Store.memory()
    ids = [f"p{n}" for n in range(data.draw(st.integers(1, 3)))]
    store.replace_projects([{"id": pid, "name": pid} for pid in ids], NOW)
    accounts: dict[str, list[StoredAccount]] = {}
    for index, pid in enumerate(ids):
        count = data.draw(st.integers(0, 15))
        accounts[pid] = [data.draw(stored(100 * index + n)) for n in range(count)]
        store.save_project(pid, accounts[pid], [], NOW)
    every = [account for pid in ids for account in accounts[pid]]
    assert store.state_counts() == Counter((a.kind, a.status) for a in every)
    wanted = ids[:1]
    narrowed = [a for a in accounts[wanted[0]] if a.platform == "tiktok"]
    assert store.state_counts(wanted, "tiktok") == Counter((a.kind, a.status) for a in narrowed)


FRESHNESS = st.one_of(st.none(), st.integers(0, 7200))


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_due_count_and_notable_projects_agree_with_the_records(data):
    """`due_count` counts what check's `_due` picks from the records; `notable_projects`
    holds every never-loaded, stale, failed or partly unreadable project, in listing order."""
    store = Store.memory()
    ids = [f"p{n}" for n in range(data.draw(st.integers(0, 6)))]
    store.replace_projects([{"id": pid, "name": pid} for pid in ids], NOW)
    for pid in ids:
        age = data.draw(FRESHNESS)
        if age is not None:
            invalid = [{"id": "bad"}] if data.draw(st.booleans()) else []
            store.save_project(pid, [], invalid, NOW - timedelta(seconds=age))
        if data.draw(st.booleans()):
            store.save_project_error(pid, {"code": "X", "message": "m"}, NOW)
    max_age = data.draw(st.integers(1, 7200))
    records = store.projects()
    stamp = NOW.timestamp()
    assert store.due_count(stamp, max_age) == len(_due(records, stamp, max_age))
    chosen = ids[: data.draw(st.integers(0, len(ids)))]
    picked = [r for r in records if r.id in chosen]
    assert store.due_count(stamp, max_age, chosen) == len(_due(picked, stamp, max_age))
    stale_before = stamp - max_age
    expected = [
        r.id
        for r in records
        if r.refreshed_at is None
        or r.refreshed_at < stale_before
        or error_from_record(r.error) is not None
        or r.invalid
    ]
    assert [r.id for r in store.notable_projects(stale_before)] == expected
    assert [r.id for r in store.notable_projects(stale_before, chosen)] == [
        ident for ident in expected if ident in chosen
    ]
    assert store.notable_projects(None) == [
        r
        for r in records
        if r.id in expected
        and (r.refreshed_at is None or error_from_record(r.error) is not None or r.invalid)
    ]
    assert store.listed_count() == len(records)
    assert store.listed_count([*chosen, "gone"]) == len(chosen)
    assert set(store.projects_by_id([*chosen, "gone"])) == set(chosen)
