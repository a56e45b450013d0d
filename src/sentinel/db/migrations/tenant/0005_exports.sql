-- Data exports of the organization: built in the background, downloadable once.
CREATE TABLE exports (
    id              uuid PRIMARY KEY,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    telemetry_from  timestamptz,
    telemetry_to    timestamptz,
    status          text NOT NULL DEFAULT 'building'
                    CHECK (status IN ('building', 'ready', 'downloaded', 'failed', 'expired')),
    progress        real NOT NULL DEFAULT 0,
    manifest        jsonb,
    download_sha256 bytea,
    expires_at      timestamptz,
    finished_at     timestamptz,
    error           text
);
