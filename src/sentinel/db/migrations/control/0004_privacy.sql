-- Deletion receipts outlive the organization they describe: what was removed, when, by whom,
-- and what the verification scan found afterwards.
CREATE TABLE control.deletion_receipts (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    org_name     text NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    deleted_by   uuid,
    removed      jsonb NOT NULL,
    verification jsonb NOT NULL,
    verified     boolean NOT NULL
);
CREATE INDEX deletion_receipts_org ON control.deletion_receipts (org_id);
