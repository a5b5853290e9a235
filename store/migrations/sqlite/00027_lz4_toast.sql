-- PostgreSQL compresses its large columns with lz4 from this version
-- (../postgres/00027_lz4_toast.sql); SQLite compresses nothing. The number
-- is kept so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
