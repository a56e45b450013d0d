-- Remote commands to devices and their results.
CREATE TABLE commands (
    id          uuid PRIMARY KEY,
    device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name        text NOT NULL,
    args        jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sent', 'done', 'failed', 'rejected', 'expired')),
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    sent_at     timestamptz,
    finished_at timestamptz,
    output      text
);
CREATE INDEX commands_device ON commands (device_id, created_at DESC);
CREATE INDEX commands_open ON commands (status) WHERE status IN ('queued', 'sent');
