-- One model of a department's head: user_departments.head (00017), which
-- the ticket workflow assigns by; the operator pages' department_heads
-- (00014) came from a branch that landed beside it. Heads set there move
-- over (a head who is no longer a member is dropped: the workflow assigns
-- only members).
-- Same meaning as ../postgres/00024_one_department_head.sql.

-- +goose Up
UPDATE user_departments SET head = FALSE
    WHERE department IN (SELECT department FROM department_heads);
UPDATE user_departments SET head = TRUE
    WHERE EXISTS (SELECT 1 FROM department_heads h
                  WHERE h.department = user_departments.department AND h.user_id = user_departments.user_id);
DROP TABLE department_heads;

-- +goose Down
CREATE TABLE department_heads (
    department TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL
) STRICT;
INSERT INTO department_heads (department, user_id, updated_at)
    SELECT department, user_id, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z' FROM user_departments WHERE head = TRUE;
