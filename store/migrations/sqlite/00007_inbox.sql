-- The staff inbox: who works a conversation (assignee, department), what it
-- is about (topic, scope, language of its messages), snoozes, per-user read
-- marks, ticket outcomes, notes about a contact, contact merges that can be
-- undone, full-text search, and a change feed for live pages.
--
-- Triggers keep the inbox's columns and the change feed true whoever
-- writes: the pipeline, the send worker, a status callback, another
-- replica. The search index is written by the store itself (InsertMessage),
-- because its text goes through the classifier's normalization first.

-- +goose Up
ALTER TABLE conversations ADD COLUMN assignee_id INTEGER REFERENCES users (id);
ALTER TABLE conversations ADD COLUMN department TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN snoozed_until TEXT;
ALTER TABLE conversations ADD COLUMN reminded_at TEXT;
CREATE INDEX conversations_status_activity ON conversations (status, last_message_at, id);
CREATE INDEX conversations_department_activity ON conversations (department, last_message_at, id);
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, last_message_at, id);
CREATE INDEX conversations_contact ON conversations (contact_id, last_message_at);

ALTER TABLE tickets ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN outcome_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN merged_into INTEGER REFERENCES contacts (id);

CREATE TABLE conversation_reads (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    read_at         TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) STRICT;

CREATE TABLE contact_notes (
    id         INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX contact_notes_contact ON contact_notes (contact_id, id);

-- moved: what the merge moved, as JSON ({"identities": [[kind, value]…],
-- "conversations": […], "tickets": […], "outbound": […], "messages": […]}),
-- so that undo moves exactly that back.
CREATE TABLE contact_merges (
    id         INTEGER PRIMARY KEY,
    kept_id    INTEGER NOT NULL REFERENCES contacts (id),
    merged_id  INTEGER NOT NULL REFERENCES contacts (id),
    moved      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    undone_at  TEXT,
    undone_by  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX contact_merges_kept ON contact_merges (kept_id, id);
CREATE INDEX contact_merges_merged ON contact_merges (merged_id, id);

-- Contentless: the index holds the normalized terms, not the text; rowid
-- is messages.id, and the conversation is kept beside it
-- (contentless_unindexed) so a search needs no look-up in messages.
CREATE VIRTUAL TABLE message_search USING fts5 (body, conversation_id UNINDEXED, content = '', contentless_unindexed = 1, tokenize = 'unicode61');

CREATE TABLE changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX changes_created ON changes (created_at);

-- +goose StatementBegin
CREATE TRIGGER inbox_message AFTER INSERT ON messages
WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversations SET
        topic = CASE WHEN NEW.topic <> '' THEN NEW.topic ELSE topic END,
        scope = CASE WHEN NEW.scope <> '' THEN NEW.scope ELSE scope END,
        language = CASE WHEN NEW.language IN ('ar', 'en') THEN NEW.language ELSE language END,
        snoozed_until = NULL
    WHERE id = NEW.conversation_id;
    INSERT INTO changes (conversation_id, kind, created_at) VALUES (NEW.conversation_id, 'message', NEW.created_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_outbound AFTER INSERT ON outbound_messages
BEGIN
    INSERT INTO changes (conversation_id, kind, created_at) VALUES (NEW.conversation_id, 'outbound', NEW.created_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_delivery AFTER UPDATE OF state ON outbound_messages
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO changes (conversation_id, kind, created_at) VALUES (NEW.conversation_id, 'delivery', NEW.updated_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_ticket AFTER INSERT ON tickets
WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversations SET department = NEW.department WHERE id = NEW.conversation_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_ticket_department AFTER UPDATE OF department ON tickets
WHEN NEW.conversation_id IS NOT NULL AND OLD.department IS NOT NEW.department
BEGIN
    UPDATE conversations SET department = NEW.department WHERE id = NEW.conversation_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_ticket_event AFTER INSERT ON ticket_events
BEGIN
    INSERT INTO changes (conversation_id, kind, created_at)
    SELECT conversation_id, 'event', NEW.created_at FROM tickets WHERE id = NEW.ticket_id AND conversation_id IS NOT NULL;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER inbox_conversation AFTER UPDATE ON conversations
WHEN OLD.assignee_id IS NOT NEW.assignee_id OR OLD.status IS NOT NEW.status OR OLD.department IS NOT NEW.department
    OR OLD.snoozed_until IS NOT NEW.snoozed_until OR OLD.reminded_at IS NOT NEW.reminded_at OR OLD.contact_id IS NOT NEW.contact_id
BEGIN
    INSERT INTO changes (conversation_id, kind, created_at) VALUES (NEW.id, 'conversation', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER inbox_conversation;
DROP TRIGGER inbox_ticket_event;
DROP TRIGGER inbox_ticket_department;
DROP TRIGGER inbox_ticket;
DROP TRIGGER inbox_delivery;
DROP TRIGGER inbox_outbound;
DROP TRIGGER inbox_message;
DROP TABLE changes;
DROP TABLE message_search;
DROP TABLE contact_merges;
DROP TABLE contact_notes;
DROP TABLE conversation_reads;
ALTER TABLE contacts DROP COLUMN merged_into;
ALTER TABLE tickets DROP COLUMN outcome_reason;
ALTER TABLE tickets DROP COLUMN outcome;
DROP INDEX conversations_contact;
DROP INDEX conversations_assignee_activity;
DROP INDEX conversations_department_activity;
DROP INDEX conversations_status_activity;
ALTER TABLE conversations DROP COLUMN reminded_at;
ALTER TABLE conversations DROP COLUMN snoozed_until;
ALTER TABLE conversations DROP COLUMN language;
ALTER TABLE conversations DROP COLUMN scope;
ALTER TABLE conversations DROP COLUMN topic;
ALTER TABLE conversations DROP COLUMN department;
ALTER TABLE conversations DROP COLUMN assignee_id;
