-- Device credentials and enrollment tokens: indexes the agent and the broker need without
-- knowing the organization first. Raw tokens never persist: SHA-256 for lookup, and a salted
-- PBKDF2 hash in Mosquitto's format for the broker's password file.
ALTER TABLE control.organizations ADD COLUMN seat_limit integer NOT NULL DEFAULT 50
    CHECK (seat_limit >= 0);

CREATE TABLE control.device_credentials (
    device_id       uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES control.organizations (id) ON DELETE CASCADE,
    token_sha256    bytea NOT NULL UNIQUE,
    broker_username text NOT NULL UNIQUE,
    broker_hash     text NOT NULL,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'revoked', 'decommissioned')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX device_credentials_org ON control.device_credentials (org_id, status);

CREATE TABLE control.enrollment_tokens (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES control.organizations (id) ON DELETE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE,
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    group_id     uuid,
    expires_at   timestamptz NOT NULL,
    max_uses     integer NOT NULL CHECK (max_uses >= 1),
    uses         integer NOT NULL DEFAULT 0,
    created_by   uuid REFERENCES control.users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX enrollment_tokens_org ON control.enrollment_tokens (org_id);

-- Any change to broker credentials wakes the worker's debounced password-file sync.
CREATE FUNCTION control.notify_broker_credentials() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sentinel_broker_credentials', '');
    RETURN NULL;
END $$;

CREATE TRIGGER device_credentials_changed
    AFTER INSERT OR UPDATE OR DELETE ON control.device_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION control.notify_broker_credentials();
