-- The ticket workflow as the university runs it: SLA clocks in working
-- time (targets as the bank wrote them, the due times they give, working
-- time paused while a ticket waits on the customer), the first answer by a
-- person, the department that did the work and what it reported when it
-- handed the ticket back, the earlier ticket a new one follows, department
-- heads (tickets are assigned to them on arrival), SLA notices sent once
-- per ticket, clock and state, and an outbox of mail to staff (SLA
-- notices, reopen notices, weekly reports, supply lists).

-- +goose Up
ALTER TABLE tickets ADD COLUMN sla_target TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN first_response_target TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN first_response_due_at TEXT;
ALTER TABLE tickets ADD COLUMN first_response_at TEXT;
ALTER TABLE tickets ADD COLUMN paused_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN pending_since TEXT;
ALTER TABLE tickets ADD COLUMN waiting_on TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN resolved_department TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN outcome_date TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN handback_reply TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN linked_ticket_id INTEGER REFERENCES tickets (id);
ALTER TABLE tickets ADD COLUMN worked_by INTEGER REFERENCES users (id); -- who did the work: the assignee at hand-back or close
CREATE INDEX tickets_department_closed ON tickets (department, closed_at);
CREATE INDEX tickets_open_due ON tickets (status, sla_due_at);

ALTER TABLE user_departments ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX user_departments_one_head ON user_departments (department) WHERE head = 1;

CREATE TABLE sla_notices (
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    clock      TEXT NOT NULL, -- first_response or resolution
    state      TEXT NOT NULL, -- at_risk or breached
    created_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, clock, state)
) STRICT;

-- key makes each mail once: "sla:12:resolution:breached", "weekly:classrooms:2026-11-01".
CREATE TABLE staff_mails (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    to_addr    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL, -- queued, sending, sent, failed
    error      TEXT NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at    TEXT
) STRICT;

-- +goose Down
DROP TABLE staff_mails;
DROP TABLE sla_notices;
DROP INDEX user_departments_one_head;
ALTER TABLE user_departments DROP COLUMN head;
DROP INDEX tickets_open_due;
DROP INDEX tickets_department_closed;
ALTER TABLE tickets DROP COLUMN worked_by;
ALTER TABLE tickets DROP COLUMN linked_ticket_id;
ALTER TABLE tickets DROP COLUMN handback_reply;
ALTER TABLE tickets DROP COLUMN outcome_date;
ALTER TABLE tickets DROP COLUMN resolved_department;
ALTER TABLE tickets DROP COLUMN waiting_on;
ALTER TABLE tickets DROP COLUMN pending_since;
ALTER TABLE tickets DROP COLUMN paused_seconds;
ALTER TABLE tickets DROP COLUMN first_response_at;
ALTER TABLE tickets DROP COLUMN first_response_due_at;
ALTER TABLE tickets DROP COLUMN first_response_target;
ALTER TABLE tickets DROP COLUMN sla_target;
