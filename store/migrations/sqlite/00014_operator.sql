-- Operators: channels added in the web UI next to those from the file, an
-- audit log of what operators change, and each department's head.
--
-- channels.source tells the file's channels ('config', read-only in the UI)
-- from the UI's ('ui'); revision counts a UI channel's changes, which every
-- replica polls to start, restart and stop its connectors; a deleted
-- channel keeps its row (its conversations point at it) under a name that
-- frees the original. action / action_seq carry a request (pair, logout)
-- to whichever replica drives the channel.

-- +goose Up
ALTER TABLE channels ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
ALTER TABLE channels ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN deleted_at TEXT;
ALTER TABLE channels ADD COLUMN action TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN action_seq INTEGER NOT NULL DEFAULT 0;

-- Who changed which channel, user, department or the bank, and what (field
-- names, never a secret's value).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_target ON audit_log (target_kind, target, id);

-- A department's head: its default assignee.
CREATE TABLE department_heads (
    department TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE department_heads;
DROP TABLE audit_log;
ALTER TABLE channels DROP COLUMN action_seq;
ALTER TABLE channels DROP COLUMN action;
ALTER TABLE channels DROP COLUMN deleted_at;
ALTER TABLE channels DROP COLUMN revision;
ALTER TABLE channels DROP COLUMN source;
