"""School hours: when an organization's devices are expected to be on.

Offline rules that respect school hours fire only inside them, and count only the time a device
was offline inside them: laptops switched off at night, at weekends and on holidays never page
anyone — neither then nor the moment school starts again.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_KEY = "school_hours"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_LOOKBACK_DAYS = 400  # school time is counted back this far at most
Span = Annotated[list[time], Field(min_length=2, max_length=2)]


class SchoolHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "UTC"
    weekly: dict[str, list[Span]] = Field(
        default_factory=lambda: {day: [[time(7, 30), time(16, 30)]] for day in DAYS[:5]}
    )
    holidays: list[date] = Field(default_factory=list, max_length=366)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _valid_week(cls, value: dict[str, list[list[time]]]) -> dict[str, list[list[time]]]:
        unknown = set(value) - set(DAYS)
        if unknown:
            raise ValueError(f"unknown days {sorted(unknown)}; use {', '.join(DAYS)}")
        for spans in value.values():
            for start, end in spans:
                if start >= end:
                    raise ValueError("each span must start before it ends")
        return value

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        spans = self.weekly.get(DAYS[local.weekday()], [])
        return any(start <= local.time() < end for start, end in spans)

    def seconds_within(self, start: datetime, end: datetime, enough: float | None = None) -> float:
        """Seconds of [start, end) that fall inside school hours (holidays excluded), counted
        back from `end`; counting stops once `enough` is reached."""
        zone = ZoneInfo(self.timezone)
        total = 0.0
        day, first = end.astimezone(zone).date(), start.astimezone(zone).date()
        for _ in range(MAX_LOOKBACK_DAYS):
            if day < first or (enough is not None and total >= enough):
                break
            if day not in self.holidays:
                for span_start, span_end in self.weekly.get(DAYS[day.weekday()], []):
                    low = max(start, datetime.combine(day, span_start, zone))
                    high = min(end, datetime.combine(day, span_end, zone))
                    total += max(0.0, (high - low).total_seconds())
            day -= timedelta(days=1)
        return total


def load(value: Any) -> SchoolHours:
    return SchoolHours.model_validate(value) if isinstance(value, dict) else SchoolHours()
