-- Control plane: identities, sessions, organizations, memberships, invitations.
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA control;

CREATE TABLE control.users (
    id              uuid PRIMARY KEY,
    email           control.citext NOT NULL UNIQUE,
    password_hash   text,
    external_sub    text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz
);

CREATE TABLE control.sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES control.users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    refreshed_at   timestamptz NOT NULL DEFAULT now(),
    user_agent     text,
    ip             inet,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user ON control.sessions (user_id) WHERE revoked_at IS NULL;

-- Raw refresh tokens never persist: `token_hash` finds a token; `secret_salt` lets the server
-- re-derive a successor (HMAC with a server key) during the reuse grace window.
CREATE TABLE control.refresh_tokens (
    id          bigserial PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES control.sessions (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    secret_salt bytea NOT NULL,
    parent_id   bigint REFERENCES control.refresh_tokens (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_session ON control.refresh_tokens (session_id);

CREATE TABLE control.organizations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    shard      text NOT NULL DEFAULT 'main',
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid REFERENCES control.users (id) ON DELETE SET NULL
);

CREATE TABLE control.memberships (
    org_id     uuid NOT NULL REFERENCES control.organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES control.users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'readonly')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON control.memberships (user_id);

CREATE TABLE control.invitations (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES control.organizations (id) ON DELETE CASCADE,
    email       control.citext NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'readonly')),
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  uuid REFERENCES control.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX invitations_org ON control.invitations (org_id);
