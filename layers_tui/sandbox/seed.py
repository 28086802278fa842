"""Deterministic demo organisations for the sandbox."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .state import AD_PLATFORMS, SOCIAL_PLATFORMS, TOKEN_STATUSES, World

DEMO_PROJECTS = [
    # name, timezone, customerExternalId
    ("Acme Coffee Roasters", "America/New_York", "cus_acme_001"),
    ("Bloom & Wild Florists", "Europe/London", "cus_bloom_002"),
    ("Northwind Fitness", "America/Los_Angeles", "cus_northwind_003"),
    ("Pixel Pals Games", "Asia/Tokyo", "cus_pixelpals_004"),
    ("Harbor Dental Group", "Australia/Sydney", "cus_harbor_005"),
    ("Lumen Skincare", "Europe/Paris", "cus_lumen_006"),
]

# project index, platform, handle, status, leased, days connected ago, token expires in (hours),
# queued posts
DEMO_SOCIAL = [
    (0, "tiktok", "acmecoffee", "connected", False, 120, 24 * 21, 6),
    (0, "instagram", "acme.coffee.co", "connected", False, 200, 30, 3),
    (0, "tiktok", "acme_baristas", "reauth_required", False, 90, -5, 4),
    (1, "instagram", "bloomandwild", "connected", False, 60, 24 * 40, 12),
    (1, "tiktok", "bloom.wild.uk", "connected", False, 45, 24 * 5, 2),
    (1, "instagram", "bloom_weddings", "disconnected", False, 300, None, 0),
    (2, "tiktok", "northwind.fit", "connected", False, 30, 24 * 12, 8),
    (2, "tiktok", "nw_daily_workout", "connected", True, 14, None, 5),
    (2, "tiktok", "nw_mealprep", "connected", True, 10, None, 1),
    (2, "instagram", "northwindfitness", "reauth_required", False, 150, -72, 9),
    (3, "tiktok", "pixelpals", "connected", False, 80, 24 * 2, 0),
    (3, "instagram", "pixelpals.games", "connected", False, 95, 24 * 55, 4),
    (3, "tiktok", "pixelpals_jp", "reauth_required", False, 40, -1, 0),
    (4, "instagram", "harbordental", "connected", False, 400, 18, 2),
    (4, "tiktok", "smile.with.harbor", "disconnected", False, 500, None, 0),
    (4, "instagram", "harbor_kids_dental", "connected", False, 20, 24 * 58, 0),
]

# project index, platform, name, tokenStatus, currency
DEMO_ADS = [
    (0, "meta_ads", "Acme Coffee - Meta", "valid", "USD"),
    (0, "tiktok_ads", "Acme Coffee - TikTok Ads", "expired", "USD"),
    (1, "meta_ads", "Bloom & Wild UK", "valid", "GBP"),
    (1, "apple_ads", "Bloom & Wild App", "valid", "GBP"),
    (2, "tiktok_ads", "Northwind Performance", "revoked", "USD"),
    (3, "apple_ads", "Pixel Pals - Search Ads", "invalid", "JPY"),
    (3, "meta_ads", "Pixel Pals Global", "valid", "USD"),
    (4, "meta_ads", "Harbor Dental AU", "expired", "AUD"),
]


def seed_demo(world: World, org_id: str) -> None:
    """The curated demo organisation: every status, leased accounts, tokens about to expire."""
    now = world.clock.now()
    project_ids = []
    for offset, (name, timezone, external) in enumerate(DEMO_PROJECTS):
        created = now - timedelta(days=500 - offset * 30)
        project = world.create_project(
            org_id,
            name,
            timezone,
            customer_external_id=external,
            owner_email=f"ops+{external}@example.com",
            created_at=created,
        )
        project_ids.append(project["id"])
    for index, platform, handle, status, leased, days_ago, expires_h, queued in DEMO_SOCIAL:
        expires = None if expires_h is None else now + timedelta(hours=expires_h)
        world.add_social_account(
            project_ids[index],
            platform,
            handle,
            status,
            leased=leased,
            connected_at=now - timedelta(days=days_ago),
            token_expires_at=expires,
            queued_posts=queued,
        )
    for offset, (index, platform, name, token_status, currency) in enumerate(DEMO_ADS):
        world.add_ad_account(
            project_ids[index],
            platform,
            name,
            token_status,
            currency=currency,
            connected_at=now - timedelta(days=100 + offset),
        )


def seed_generated(
    world: World, org_id: str, projects: int, accounts_per_project: int, seed: int
) -> None:
    """A large organisation for benchmarks: `projects` x `accounts_per_project` social accounts
    plus one ad account per project, all derived from `seed`."""
    rng = random.Random(seed)
    now = world.clock.now()
    statuses = ["connected"] * 7 + ["reauth_required", "disconnected"]
    with world.transaction():
        _generate(world, org_id, projects, accounts_per_project, rng, now, statuses)


def _generate(
    world: World,
    org_id: str,
    projects: int,
    accounts_per_project: int,
    rng: random.Random,
    now: datetime,
    statuses: list[str],
) -> None:
    for number in range(projects):
        project = world.create_project(
            org_id,
            f"Customer {number + 1:04d}",
            "UTC",
            customer_external_id=f"cus_{number + 1:05d}",
            created_at=now - timedelta(days=projects - number),
        )
        for account in range(accounts_per_project):
            platform = SOCIAL_PLATFORMS[account % 2]
            status = rng.choice(statuses)
            leased = status == "connected" and rng.random() < 0.1
            expires = now + timedelta(hours=rng.randint(-48, 24 * 60))
            world.add_social_account(
                project["id"],
                platform,
                f"customer{number + 1}_{platform}_{account + 1}",
                status,
                leased=leased,
                connected_at=now - timedelta(days=rng.randint(1, 400)),
                token_expires_at=None if status == "disconnected" else expires,
                queued_posts=rng.randint(0, 10),
                returning=False,
            )
        world.add_ad_account(
            project["id"],
            AD_PLATFORMS[number % 3],
            f"Customer {number + 1:04d} ads",
            rng.choice(TOKEN_STATUSES),
        )
