-- A small blob is kept s2-compressed when that saves an eighth or more
-- (codec 's2'), else as it is (''). A first sync writes each mail's raw
-- copy here, and on SQLite every byte is written twice, to the WAL and
-- again at the checkpoint: the raw copies were half a 10,000-mail
-- backfill's database. Rows written before stay as they are. Same number
-- as ../postgres/00028_blob_codec.sql.

-- +goose Up
ALTER TABLE blob_data ADD COLUMN codec TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE blob_data DROP COLUMN codec;
