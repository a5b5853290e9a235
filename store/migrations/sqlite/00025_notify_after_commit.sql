-- Same number as ../postgres/00025_notify_after_commit.sql, which moves
-- PostgreSQL's change-feed NOTIFY out of the transactions. SQLite has no
-- NOTIFY (its hub polls): nothing changes here.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
