"""Typed billing errors, each with its HTTP status and stable problem code."""

from __future__ import annotations

from sentinel.api.problems import Conflict, NotFound, Problem


class UnknownPlan(Problem):
    status = 422
    code = "unknown_plan"
    title = "No such plan"


class PlanNotSelfServe(Conflict):
    code = "plan_not_self_serve"
    title = "This plan is bought through checkout or by invoice"


class PlanNotPurchasable(Conflict):
    code = "plan_not_purchasable"
    title = "This plan cannot be bought online"


class SeatsOutOfRange(Problem):
    status = 422
    code = "seats_out_of_range"
    title = "The seat count is outside what the plan allows"


class ProviderUnavailable(Conflict):
    code = "billing_provider_unavailable"
    title = "Online payment is not enabled on this deployment"


class SubscriptionExists(Conflict):
    code = "subscription_exists"
    title = "The organization already has a paid subscription"


class NoBillingAccount(Conflict):
    code = "no_billing_account"
    title = "The organization has no payment account yet"


class BillingNotConfigured(Problem):
    status = 503
    code = "billing_not_configured"
    title = "Billing is not fully configured on this deployment"


class PaymentProviderError(Problem):
    status = 502
    code = "payment_provider_error"
    title = "The payment provider could not be reached or refused the request"


class WebhookDisabled(NotFound):
    """Deployments that do not bill through Stripe have no webhook: 404, like any unknown path."""


class InvalidWebhook(Problem):
    status = 400
    code = "invalid_webhook"
    title = "The webhook's signature, timestamp or payload is not valid"


class WebhookTooLarge(Problem):
    status = 413
    code = "payload_too_large"
    title = "The webhook payload is too large"
