-- The large columns a first sync writes (a mail's text and HTML, its raw
-- copy, its search document) are compressed with lz4 rather than pglz:
-- pglz took a tenth of a 10,000-mail backfill's database time (scratch
-- first sync, pg_stat_statements: blob_data 1.0 s against 0.26 s, messages
-- 2.2–2.6 s against 1.7–1.9 s). Only rows written from now on change; old
-- ones stay readable as they are. A server built without lz4 keeps pglz.
-- Same number as ../sqlite/00027_lz4_toast.sql (SQLite compresses nothing:
-- nothing to change there).

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    -- EXECUTE: a server without the clause (before 14) fails here, in
    -- the block, not when the block is read.
    EXECUTE 'ALTER TABLE messages ALTER COLUMN body_text SET COMPRESSION lz4, ALTER COLUMN body_html SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE blob_data ALTER COLUMN data SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE message_search ALTER COLUMN doc SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'large columns stay compressed with pglz: %', SQLERRM;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE messages ALTER COLUMN body_text SET COMPRESSION default, ALTER COLUMN body_html SET COMPRESSION default';
    EXECUTE 'ALTER TABLE blob_data ALTER COLUMN data SET COMPRESSION default';
    EXECUTE 'ALTER TABLE message_search ALTER COLUMN doc SET COMPRESSION default';
EXCEPTION WHEN syntax_error THEN
    NULL;
END $$;
-- +goose StatementEnd
