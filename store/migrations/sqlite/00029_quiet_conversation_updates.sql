-- A message or a ticket rewrites its conversation's row only when that
-- changes it: a new conversation is now written with its first message's
-- topic, scope and language and its first ticket's department, which the
-- triggers then copied there again. Same number as
-- ../postgres/00029_quiet_conversation_updates.sql.

-- +goose Up
DROP TRIGGER inbox_message;
-- +goose StatementBegin
CREATE TRIGGER inbox_message AFTER INSERT ON messages
WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversations SET
        topic = CASE WHEN NEW.topic <> '' THEN NEW.topic ELSE topic END,
        scope = CASE WHEN NEW.scope <> '' THEN NEW.scope ELSE scope END,
        language = CASE WHEN NEW.language IN ('ar', 'en') THEN NEW.language ELSE language END,
        snoozed_until = NULL
    WHERE id = NEW.conversation_id
        AND ((NEW.topic <> '' AND topic <> NEW.topic) OR (NEW.scope <> '' AND scope <> NEW.scope)
            OR (NEW.language IN ('ar', 'en') AND language <> NEW.language) OR snoozed_until IS NOT NULL);
    INSERT INTO changes (conversation_id, kind, created_at) VALUES (NEW.conversation_id, 'message', NEW.created_at);
END;
-- +goose StatementEnd
DROP TRIGGER inbox_ticket;
-- +goose StatementBegin
CREATE TRIGGER inbox_ticket AFTER INSERT ON tickets
WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversations SET department = NEW.department WHERE id = NEW.conversation_id AND department <> NEW.department;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER inbox_message;
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
DROP TRIGGER inbox_ticket;
-- +goose StatementBegin
CREATE TRIGGER inbox_ticket AFTER INSERT ON tickets
WHEN NEW.conversation_id IS NOT NULL
BEGIN
    UPDATE conversations SET department = NEW.department WHERE id = NEW.conversation_id;
END;
-- +goose StatementEnd
