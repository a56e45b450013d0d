"""Typed organization errors."""

from __future__ import annotations

from sentinel.api.problems import Conflict, Problem


class LastOwner(Conflict):
    code = "last_owner"
    title = "An organization needs at least one owner"


class ConfirmationMismatch(Problem):
    status = 422
    code = "confirmation_mismatch"
    title = "Type the organization's exact name to confirm"


class AlreadyMember(Conflict):
    code = "already_member"
    title = "Already a member of this organization"


class InvitationInvalid(Problem):
    status = 404
    code = "invitation_invalid"
    title = "This invitation is unknown, used, revoked or expired"


class InvitationEmailMismatch(Problem):
    status = 403
    code = "invitation_email_mismatch"
    title = "This invitation was sent to another email address"
