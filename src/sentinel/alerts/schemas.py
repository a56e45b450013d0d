"""API models of alert rules, channels and school hours."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from sentinel.telemetry.queries import NUMERIC_METRICS

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Kind = Literal[
    "metric_threshold", "battery_low", "offline", "back_online", "new_device", "spool_overflow"
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleFields(Strict):
    name: Name
    kind: Kind
    metric: str | None = None
    operator: Literal[">", "<"] | None = None
    threshold: float | None = None
    duration_s: int = Field(0, ge=0, le=604_800)
    scope_type: Literal["org", "group", "device"] = "org"
    scope_id: UUID | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    respect_school_hours: bool = False
    channel_ids: list[UUID] | None = Field(None, max_length=50)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> RuleFields:
        if self.kind == "metric_threshold":
            if self.metric not in NUMERIC_METRICS:
                raise ValueError(f"metric must be one of {', '.join(NUMERIC_METRICS)}")
            if self.operator is None or self.threshold is None:
                raise ValueError("metric_threshold needs operator and threshold")
        if self.kind == "battery_low":
            self.metric, self.operator = "battery_pct", "<"
            self.threshold = 20.0 if self.threshold is None else self.threshold
        if self.kind == "offline" and self.duration_s < 60:
            raise ValueError("offline rules need duration_s (how long offline) of at least 60")
        if (self.scope_type == "org") != (self.scope_id is None):
            raise ValueError("scope_id is required for group/device scope and not allowed for org")
        return self


def _no_nulls(model: BaseModel, nullable: frozenset[str] = frozenset()) -> None:
    """A PATCH changes only the fields it sends; sending null for one that cannot be null is a
    mistake to report, not a database error."""
    for name in model.model_fields_set - nullable:
        if getattr(model, name) is None:
            raise ValueError(f"{name} cannot be null")


class RuleUpdate(Strict):
    """Checked field by field here; the rule it produces is checked as a whole (`RuleFields`)."""

    name: Name | None = None
    threshold: float | None = None
    duration_s: int | None = Field(None, ge=0, le=604_800)
    severity: Literal["info", "warning", "critical"] | None = None
    respect_school_hours: bool | None = None
    channel_ids: list[UUID] | None = Field(None, max_length=50)  # null: every channel
    enabled: bool | None = None

    @model_validator(mode="after")
    def _present(self) -> RuleUpdate:
        _no_nulls(self, frozenset({"threshold", "channel_ids"}))
        return self


class EmailConfig(Strict):
    recipients: list[EmailStr] = Field(min_length=1, max_length=50)


class WebhookConfig(Strict):
    url: AnyHttpUrl


class ChannelCreate(Strict):
    name: Name
    kind: Literal["email", "webhook"]
    config: EmailConfig | WebhookConfig
    rate_per_minute: int = Field(10, ge=1, le=1000)

    @model_validator(mode="after")
    def _matching(self) -> ChannelCreate:
        expected = EmailConfig if self.kind == "email" else WebhookConfig
        if not isinstance(self.config, expected):
            raise ValueError(f"{self.kind} channels need {expected.__name__} settings")
        return self


class ChannelUpdate(Strict):
    name: Name | None = None
    rate_per_minute: int | None = Field(None, ge=1, le=1000)
    enabled: bool | None = None

    @model_validator(mode="after")
    def _present(self) -> ChannelUpdate:
        _no_nulls(self)
        return self
