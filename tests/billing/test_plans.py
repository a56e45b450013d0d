"""Plans come from a TOML file: the one shipped with Sentinel, or a deployment's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sentinel.billing.plans import catalog, parse_catalog
from sentinel.config import Settings
from tests.billing.support import SCHOOL_PRICE, write_plans


def test_the_shipped_plans_have_a_free_tier_for_small_schools(tmp_path: Path) -> None:
    plans = catalog(Settings(data_dir=tmp_path))
    assert [p.key for p in plans.plans] == ["free", "school", "district"]
    free = plans.default
    assert (free.key, free.seats, free.self_serve, free.stripe_price) == ("free", 10, True, None)
    assert free.features.retention_days == 7
    assert free.features.alert_channels == ("email",)
    school = plans.get("school")
    assert school is not None and not school.self_serve
    assert school.features.retention_days > free.features.retention_days
    assert "webhook" in school.features.alert_channels


def test_a_deployment_overrides_the_plans_with_its_own_file(tmp_path: Path) -> None:
    plans = catalog(Settings(data_dir=tmp_path, billing_plans_file=write_plans(tmp_path)))
    assert plans.default.seats == 3
    school = plans.by_stripe_price(SCHOOL_PRICE)
    assert school is not None and school.key == "school"
    assert school.allows_seats(4) and not school.allows_seats(3)
    assert plans.get("enterprise") is not None and plans.by_stripe_price("price_other") is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            'default_plan = "gold"\n[plans.free]\nname = "Free"\nseats = 5\nmin_seats = 1\n'
            "max_seats = 9\nself_serve = true\n"
            "features = { retention_days = 7, alert_channels = [] }\n",
            "default_plan",
        ),
        (
            'default_plan = "paid"\n[plans.paid]\nname = "Paid"\nseats = 5\nmin_seats = 1\n'
            "max_seats = 9\nfeatures = { retention_days = 7, alert_channels = [] }\n",
            "self_serve",
        ),
        (
            'default_plan = "free"\n[plans.free]\nname = "Free"\nseats = 50\nmin_seats = 1\n'
            "max_seats = 9\nself_serve = true\n"
            "features = { retention_days = 7, alert_channels = [] }\n",
            "min_seats..max_seats",
        ),
        (
            'default_plan = "free"\n[plans.free]\nname = "Free"\nseats = 5\nmin_seats = 1\n'
            "max_seats = 9\nself_serve = true\nseats_per_teacher = 2\n"
            "features = { retention_days = 7, alert_channels = [] }\n",
            "seats_per_teacher",
        ),
    ],
    ids=["unknown-default", "default-not-free", "seats-out-of-bounds", "unknown-field"],
)
def test_a_plans_file_that_makes_no_sense_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        parse_catalog(text)
