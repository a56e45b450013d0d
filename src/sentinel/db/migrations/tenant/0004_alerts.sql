-- Alert rules, alerts with their lifecycle, notification channels and delivery attempts.
CREATE TABLE notification_channels (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind IN ('email', 'webhook')),
    config          jsonb NOT NULL,
    secret          text,
    rate_per_minute integer NOT NULL DEFAULT 10 CHECK (rate_per_minute BETWEEN 1 AND 1000),
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_rules (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                 text NOT NULL CHECK (kind IN ('metric_threshold', 'battery_low', 'offline',
                                                       'back_online', 'new_device', 'spool_overflow')),
    metric               text,
    operator             text CHECK (operator IN ('>', '<')),
    threshold            double precision,
    duration_s           integer NOT NULL DEFAULT 0 CHECK (duration_s BETWEEN 0 AND 604800),
    scope_type           text NOT NULL DEFAULT 'org' CHECK (scope_type IN ('org', 'group', 'device')),
    scope_id             uuid,
    severity             text NOT NULL DEFAULT 'warning'
                         CHECK (severity IN ('info', 'warning', 'critical')),
    respect_school_hours boolean NOT NULL DEFAULT false,
    channel_ids          uuid[],
    enabled              boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- 'pending' = condition seen but its duration not yet elapsed (never shown as an alert).
CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    rule_id         uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    state           text NOT NULL CHECK (state IN ('pending', 'open', 'acknowledged', 'resolved')),
    severity        text NOT NULL,
    title           text NOT NULL,
    value           double precision,
    since           timestamptz NOT NULL,
    opened_at       timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    notified        boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_id, device_id)
    WHERE state IN ('pending', 'open', 'acknowledged');
CREATE INDEX alerts_state ON alerts (state, opened_at DESC);
CREATE INDEX alerts_device ON alerts (device_id, opened_at DESC);

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    channel_id      uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('alert', 'recovery', 'test')),
    alert_id        uuid REFERENCES alerts (id) ON DELETE SET NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'digested')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    digest_id       bigint
);
CREATE INDEX notifications_due ON notifications (channel_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_sent ON notifications (channel_id, sent_at) WHERE status = 'sent';

-- Sensible defaults for every organization (notify every channel: channel_ids NULL).
INSERT INTO alert_rules (id, name, kind, metric, operator, threshold, duration_s, severity,
                         respect_school_hours)
VALUES
    (gen_random_uuid(), 'Device offline during school hours', 'offline', NULL, NULL, NULL, 1800,
     'warning', true),
    (gen_random_uuid(), 'Disk nearly full', 'metric_threshold', 'disk_pct', '>', 90, 600,
     'warning', false),
    (gen_random_uuid(), 'Battery low and not charging', 'battery_low', 'battery_pct', '<', 15, 0,
     'warning', false),
    (gen_random_uuid(), 'CPU saturated', 'metric_threshold', 'cpu_pct', '>', 95, 900, 'info', false),
    (gen_random_uuid(), 'New device enrolled', 'new_device', NULL, NULL, NULL, 0, 'info', false);
