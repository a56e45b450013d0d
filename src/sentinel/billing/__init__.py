"""Billing: plans with device seats, invoice-based and Stripe providers, signed webhooks."""
