-- SQLite keeps a list of every indexed word (search_terms) to expand prefix
-- queries, which FTS5 would otherwise answer by collecting every match.
-- PostgreSQL needs none: the store walks message_search newest first and
-- tests each row's tsvector against the prefix query (store.InboxList), or
-- asks the GIN index when matches are few. The number is kept so that both
-- dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
