-- Staff: users with a role and departments, their sign-in sessions, personal
-- API tokens, and the sign-in throttle. All in the database so several
-- replicas share them. Secrets are kept only as hashes: argon2id for
-- passwords, SHA-256 for session and API tokens (random, 256-bit).

-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- lower case
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,        -- agent or operator
    language      TEXT NOT NULL DEFAULT 'ar',
    time_zone     TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE user_departments (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    department TEXT NOT NULL,
    PRIMARY KEY (user_id, department)
) STRICT;
CREATE INDEX user_departments_department ON user_departments (department);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY, -- "email:…" or "ip:…"
    failures     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
) STRICT;

-- +goose Down
DROP TABLE login_throttle;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE user_departments;
DROP TABLE users;
