-- Small blobs (raw copies of ordinary mail and SMS, small attachments) live
-- in the database, written in the transaction that refers to them: no file,
-- no fsync of their own, durable with the commit. Content-addressed like
-- the files under data_dir/blobs, which keep the large ones. Same number as
-- ../postgres/00026_inline_blobs.sql. A rowid table: WITHOUT ROWID suits
-- small rows, not blobs of kilobytes.

-- +goose Up
CREATE TABLE blob_data (
    sha256 TEXT PRIMARY KEY,
    data   BLOB NOT NULL
);

-- +goose Down
DROP TABLE blob_data;
