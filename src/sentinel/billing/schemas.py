"""API models of billing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sentinel.billing.plans import PlanKey
from sentinel.billing.policy import Status


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanChoice(_Strict):
    plan: PlanKey


class CheckoutRequest(_Strict):
    plan: PlanKey
    seats: int = Field(ge=1, le=1_000_000)


class Features(BaseModel):
    retention_days: int
    alert_channels: list[str]


class PlanOut(BaseModel):
    key: str
    name: str
    description: str
    seats: int
    min_seats: int
    max_seats: int
    self_serve: bool
    purchasable: bool
    features: Features


class Seats(BaseModel):
    limit: int
    used: int
    available: int


class Period(BaseModel):
    start: datetime | None
    end: datetime | None


class WarningOut(BaseModel):
    code: str
    message: str


class BillingView(BaseModel):
    plan: PlanOut
    assigned: bool
    provider: Literal["manual", "stripe"]
    status: Status
    seats: Seats
    period: Period | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    warnings: list[WarningOut]
    plans: list[PlanOut]
    online_payment: bool
    portal_available: bool
    can_manage: bool


class Redirect(BaseModel):
    id: str
    url: str


class WebhookReceipt(BaseModel):
    received: bool
    outcome: str
