"""Payment providers: Stripe's API (outbound calls) and Stripe's webhooks (inbound events).

The `manual` provider needs no code here: an operator sets plan, seats and period directly
(`sentinel.billing.operator`).
"""
