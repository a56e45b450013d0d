-- A tenant schema's first version. Runs with search_path set to the tenant schema only.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_type  text NOT NULL CHECK (actor_type IN ('user', 'device', 'system')),
    actor_id    text,
    actor_label text,
    action      text NOT NULL,
    target_type text,
    target_id   text,
    source_ip   inet,
    request_id  text,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, id DESC);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id DESC);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
