"""Plans come from configuration: a TOML file, the one shipped next to this module unless
`Settings.billing_plans_file` names another.

Invariants checked when the file is loaded (a bad file fails at the first billing call, loudly,
rather than selling a plan that makes no sense): the default plan exists and is self-serve (an
organization always has somewhere free to fall back to), and every plan's default seat count
lies within its bounds.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sentinel.config import Settings

PlanKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
AlertChannel = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanFeatures(_Strict):
    retention_days: int = Field(ge=1, le=3650)
    alert_channels: tuple[AlertChannel, ...]


class Plan(_Strict):
    key: PlanKey
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    seats: int = Field(ge=0)
    min_seats: int = Field(ge=0)
    max_seats: int = Field(ge=0)
    self_serve: bool = False
    stripe_price: str | None = Field(default=None, pattern=r"^price_[A-Za-z0-9_]+$")
    features: PlanFeatures

    @model_validator(mode="after")
    def _seats_within_bounds(self) -> Self:
        if not self.min_seats <= self.seats <= self.max_seats:
            raise ValueError(f"plan {self.key!r}: seats must lie in min_seats..max_seats")
        return self

    def allows_seats(self, seats: int) -> bool:
        return self.min_seats <= seats <= self.max_seats


class Catalog(_Strict):
    """Every plan of the deployment, in the order of the file (the dashboard's upgrade path)."""

    default_plan: PlanKey
    plans: tuple[Plan, ...]

    @model_validator(mode="after")
    def _default_is_free_to_join(self) -> Self:
        keys = [plan.key for plan in self.plans]
        if len(set(keys)) != len(keys):
            raise ValueError("plan keys must be unique")
        if self.default_plan not in keys:
            raise ValueError(f"default_plan {self.default_plan!r} is not a plan")
        if not self.default.self_serve:
            raise ValueError("the default plan must be self_serve: it is the fallback")
        return self

    @property
    def default(self) -> Plan:
        return next(plan for plan in self.plans if plan.key == self.default_plan)

    def get(self, key: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.key == key), None)

    def by_stripe_price(self, price_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.stripe_price == price_id), None)


def parse_catalog(text: str) -> Catalog:
    """A catalog from TOML text: `default_plan` and a `[plans.<key>]` table per plan."""
    raw = tomllib.loads(text)
    plans = [{"key": key, **fields} for key, fields in raw.get("plans", {}).items()]
    return Catalog.model_validate({"default_plan": raw.get("default_plan"), "plans": plans})


@cache
def _load(path: Path | None) -> Catalog:
    if path is None:
        return parse_catalog(resources.files("sentinel.billing").joinpath("plans.toml").read_text())
    return parse_catalog(path.read_text())


def catalog(settings: Settings) -> Catalog:
    """The deployment's plans (read once per process and file)."""
    return _load(settings.billing_plans_file)
