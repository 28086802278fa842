"""Health from the store: SQL counting agrees with the domain rules row by row."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from layers_tui.domain.status import Thresholds, summarize
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import AdAccount, Project, SocialAccount
from layers_tui.session.health import Selection, health, match_projects
from layers_tui.session.inventory import stored_accounts
from layers_tui.session.store import Store
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
