-- The change feed's wake-up leaves the transactions that write it: a
-- transaction that issued NOTIFY holds PostgreSQL's one notification-queue
-- lock from its commit until the commit is flushed, so every ingest, claim
-- and send record waited on every other one's WAL flush. The store now
-- sends NOTIFY wasl_changes itself after its commits, at most once per
-- short window (store/notify.go); listeners read the changes table from
-- where they stopped, as before.
-- Same number as ../sqlite/00025_notify_after_commit.sql (SQLite has no
-- NOTIFY: nothing to change there).

-- +goose Up
DROP TRIGGER notify_changes ON changes;
DROP FUNCTION wasl_notify_changes();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION wasl_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wasl_changes', '');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER notify_changes AFTER INSERT ON changes FOR EACH STATEMENT EXECUTE FUNCTION wasl_notify_changes();
