-- The column SQLite's s2-compressed blobs need (../sqlite/00028_blob_codec.sql,
-- same number), so that one schema serves both. PostgreSQL's store writes
-- '' (as it is): its TOAST compresses the column already (00027, lz4, in
-- the server), and a second compression in the gateway would only make the
-- server's fail.

-- +goose Up
ALTER TABLE blob_data ADD COLUMN codec TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE blob_data DROP COLUMN codec;
