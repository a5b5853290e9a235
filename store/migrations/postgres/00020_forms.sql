-- Forms and logged calls (issue 13). Same meaning as ../sqlite/00020_forms.sql.
--
-- messages.fields: a form's or a call log's answers, in the order asked, as
-- JSON ([{"name", "label", "value", "code"}]); the message's text holds the
-- same as readable lines, which is what the search index sees.
--
-- instance_keys: random keys the replicas of one deployment share, made on
-- first use (the forms sign the time a page was served with one, so a
-- submission sent too soon is told from a person's).

-- +goose Up
ALTER TABLE messages ADD COLUMN fields TEXT NOT NULL DEFAULT '[]';

CREATE TABLE instance_keys (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE instance_keys;
ALTER TABLE messages DROP COLUMN fields;
