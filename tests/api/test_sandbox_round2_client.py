"""Issue 13, the client's side: what layers-tui says when an account is revoked while its
reconnect link is pending, and when the key lacks a scope. Real client, real sandbox
(ASGI transport), the real flow engine."""

from __future__ import annotations

import httpx
import pytest

from layers_tui.api import ApiError, LayersClient
from layers_tui.clock import FakeClock
from layers_tui.domain.failures import explain, hint_for
from layers_tui.flows.engine import FlowEngine, new_flow
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.sandbox.state import make_demo_key
from tests.conftest import BASE, RETURN_URL


async def run_for(clock: FakeClock, engine: FlowEngine, seconds: float) -> None:
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        await engine.tick()
        clock.advance(0.5)


async def test_revoked_while_its_reconnect_link_was_pending():
    fake = FakeClock()
    app = create_app(clock=SandboxClock(base=fake.now), rng_seed=4)
    key = app.state.sandbox.demo_key
    async with LayersClient(
        BASE, key, transport=httpx.ASGITransport(app=app), clock=fake
    ) as client:
        project = next(p for p in (await client.list_projects()).items if p.name.startswith("Acme"))
        target = next(
            a
            for a in (await client.all_social_accounts(project.id)).items
            if a.handle == "acme_baristas"
        )
        link = await client.social_reauth_url(project.id, target.social_account_id, RETURN_URL)
        changes = []
        engine = FlowEngine(client, fake, changes.append)
        flow = engine.add(
            new_flow(
                "reauth",
                link,
                project_id=project.id,
                project_name=project.name,
                platform=target.platform,
                now=fake.now(),
                social_account_id=target.social_account_id,
                account_label=target.handle,
            )
        )
        await run_for(fake, engine, 6)
        assert engine.flows[flow.id].status == "pending"
        await client.revoke_social_account(target.social_account_id)
        location = await client.sandbox_consent(link.authorize_url, "approve")
        assert location.endswith("layers_oauth_error=persistence_error")
        await run_for(fake, engine, 8)
        done = engine.flows[flow.id]
        after = next(
            a
            for a in (await client.all_social_accounts(project.id)).items
            if a.social_account_id == target.social_account_id
        )
    assert done.status == "failed" and done.code == "persistence_error"
    assert done.result_account_id is None
    assert after.status == "disconnected"
    why = explain(done.code, done.kind)
    assert why.title == "Account was disconnected"
    assert (
        "revoked" in why.cause and "new id" in why.next_step and "press c" in why.next_step.lower()
    )
    # Without the flow's kind the words still cover this case, next to a storage failure.
    generic = explain(done.code)
    assert "disconnected while the link was pending" in generic.cause
    assert "connect it again" in generic.next_step and "new id" in generic.next_step
    # A connect that fails the same way is a storage failure, not a revoke.
    assert explain("persistence_error", "connect") == generic


@pytest.mark.parametrize(
    ("scopes", "call", "scope"),
    [
        ("social:read,projects:read", "reauth", "social:write"),
        ("social:read,projects:read", "revoke", "social:write"),
        ("projects:read", "list", "social:read"),
    ],
)
async def test_forbidden_scope_is_explained_with_the_missing_scope(scopes, call, scope):
    key, full_key = make_demo_key(), make_demo_key()  # full_key finds ids `key` may not list
    app = create_app(api_keys=[f"{key}:{scopes}", full_key], rng_seed=5)
    async with (
        LayersClient(
            BASE, key, transport=httpx.ASGITransport(app=app), clock=FakeClock(), max_retries=0
        ) as client,
        LayersClient(
            BASE, full_key, transport=httpx.ASGITransport(app=app), clock=FakeClock()
        ) as admin,
    ):
        project = next(p for p in (await client.list_projects()).items if p.name[:4] == "Acme")
        account_id = (await admin.all_social_accounts(project.id)).items[0].social_account_id
        with pytest.raises(ApiError) as caught:
            if call == "reauth":
                await client.social_reauth_url(project.id, account_id, RETURN_URL)
            elif call == "revoke":
                await client.revoke_social_account(account_id)
            else:
                await client.all_social_accounts(project.id)
    error = caught.value
    assert error.status == 403 and error.code == "FORBIDDEN_SCOPE"
    assert hint_for(error.code, error.details) == (
        f"This key lacks {scope}; ask an admin for a key with it."
    )
    assert key not in str(error) and key not in repr(error)


def test_forbidden_scope_hint_without_details_and_hostile_scope_text():
    assert hint_for("FORBIDDEN_SCOPE") == hint_for("FORBIDDEN_SCOPE", {})
    assert "lacks the scope" in hint_for("FORBIDDEN_SCOPE")
    hostile = hint_for("FORBIDDEN_SCOPE", {"requiredScope": "social:write\x1b[2J"})
    assert "\x1b" not in hostile and hostile.startswith("This key lacks social:write")
    assert hint_for("FORBIDDEN_SCOPE", {"requiredScope": 7}) == hint_for("FORBIDDEN_SCOPE")
