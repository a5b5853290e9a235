-- Small blobs (raw copies of ordinary mail and SMS, small attachments) live
-- in the database, written in the transaction that refers to them: no file,
-- no fsync of their own, durable with the commit, and the same on every
-- replica. Content-addressed like the files under data_dir/blobs, which
-- keep the large ones. Same number as ../sqlite/00026_inline_blobs.sql.

-- +goose Up
CREATE TABLE blob_data (
    sha256 TEXT PRIMARY KEY,
    data   BYTEA NOT NULL
);

-- +goose Down
DROP TABLE blob_data;
