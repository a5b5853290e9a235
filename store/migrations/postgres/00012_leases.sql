-- Leases: what must be driven by one replica at a time (an IMAP account, a
-- WhatsApp linked device) is leased by name, for a while, and kept by
-- renewing it. replica is the holder's data directory (one process at a
-- time may use one), holder that process; expiry is judged by this
-- server's clock, so the replicas' clocks need not agree.
-- Same meaning as ../sqlite/00012_leases.sql.

-- +goose Up
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    replica     TEXT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE leases;
