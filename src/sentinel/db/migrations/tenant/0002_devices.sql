-- Devices, groups and telemetry of one organization.
CREATE TABLE device_groups (
    id         uuid PRIMARY KEY,
    parent_id  uuid REFERENCES device_groups (id) ON DELETE RESTRICT,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX device_groups_name ON device_groups (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));

CREATE TABLE devices (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    hostname            text,
    group_id            uuid REFERENCES device_groups (id) ON DELETE SET NULL,
    tags                text[] NOT NULL DEFAULT '{}',
    notes               text NOT NULL DEFAULT '',
    asset_tag           text,
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'revoked', 'decommissioned')),
    enrolled_at         timestamptz NOT NULL DEFAULT now(),
    enrollment_token_id uuid,
    online              boolean NOT NULL DEFAULT false,
    presence_changed_at timestamptz,
    last_seen_at        timestamptz,
    last_seq            bigint,
    latest              jsonb,
    os_name             text,
    os_version          text,
    agent_version       text,
    inventory           jsonb,
    inventory_at        timestamptz
);
CREATE INDEX devices_name ON devices (lower(name), id);
CREATE INDEX devices_group ON devices (group_id);
CREATE INDEX devices_last_seen ON devices (last_seen_at DESC NULLS LAST, id);

-- Monthly range partitions on the sample time, created ahead by the worker. A resent sample
-- carries its original seq and ts, so (device_id, seq, ts) deduplicates retries.
CREATE TABLE telemetry (
    device_id   uuid NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    cpu_pct     real,
    load1       real,
    mem_pct     real,
    swap_pct    real,
    disk_pct    real,
    disk_read_bps  double precision,
    disk_write_bps double precision,
    net_rx_bps  double precision,
    net_tx_bps  double precision,
    battery_pct real,
    charging    boolean,
    temp_c      real,
    uptime_s    bigint,
    users       integer,
    extra       jsonb,
    PRIMARY KEY (device_id, seq, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_device_ts ON telemetry (device_id, ts);
