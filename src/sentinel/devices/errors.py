"""Typed device errors."""

from __future__ import annotations

from sentinel.api.problems import Conflict, Problem


class SeatLimitReached(Problem):
    status = 402
    code = "seat_limit_reached"
    title = "All device seats of this organization are in use"


class EnrollmentTokenInvalid(Problem):
    status = 401
    code = "enrollment_token_invalid"
    title = "This enrollment token is unknown, revoked, expired or used up"


class DeviceNotActive(Conflict):
    code = "device_not_active"
    title = "The device is revoked or decommissioned"


class GroupNotEmpty(Conflict):
    code = "group_not_empty"
    title = "The group still has subgroups"


class GroupCycle(Problem):
    status = 422
    code = "group_cycle"
    title = "A group cannot be placed inside itself"


class InvalidCursor(Problem):
    status = 422
    code = "invalid_cursor"
    title = "The pagination cursor is not valid"
