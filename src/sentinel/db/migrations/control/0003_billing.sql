-- Billing state (see sentinel.billing). `control.organizations.seat_limit` stays what enrollment
-- enforces; billing keeps it equal to the seats the subscription below grants.

-- One row per organization that has been placed on a plan. Without a row an organization keeps
-- the seat limit it already has until an owner, an operator or Stripe assigns a plan.
CREATE TABLE control.subscriptions (
    org_id                 uuid PRIMARY KEY REFERENCES control.organizations (id) ON DELETE CASCADE,
    provider               text NOT NULL CHECK (provider IN ('manual', 'stripe')),
    plan                   text NOT NULL CHECK (length(plan) BETWEEN 1 AND 64),
    seats                  integer NOT NULL CHECK (seats >= 0),
    status                 text NOT NULL CHECK (status IN
                           ('active', 'trialing', 'past_due', 'unpaid', 'incomplete', 'paused',
                            'canceled')),
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    -- The Stripe subscription this organization follows; NULL when billed by invoice or free.
    stripe_subscription_id text UNIQUE,
    -- `created` of the last Stripe event applied: older events never overwrite newer state.
    last_event_at          timestamptz,
    -- Set when a billing change leaves more devices than seats; nothing is ever deleted.
    grace_until            timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- The Stripe customer of an organization, kept apart from the subscription so that starting
-- a checkout (and abandoning it) never changes the plan.
CREATE TABLE control.billing_customers (
    org_id             uuid PRIMARY KEY REFERENCES control.organizations (id) ON DELETE CASCADE,
    stripe_customer_id text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every Stripe event id ever handled, so a redelivered event is applied at most once.
CREATE TABLE control.stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    created     timestamptz NOT NULL,
    org_id      uuid REFERENCES control.organizations (id) ON DELETE SET NULL,
    outcome     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_org ON control.stripe_events (org_id, created);
