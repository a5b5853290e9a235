-- Leases: what must be driven by one replica at a time (an IMAP account, a
-- WhatsApp linked device) is leased by name, for a while, and kept by
-- renewing it. replica is the holder's data directory (one process at a
-- time may use one), holder that process; SQLite is one machine's file, so
-- expiry is judged by that machine's clock.
-- Same meaning as ../postgres/00012_leases.sql.

-- +goose Up
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    replica     TEXT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE leases;
