package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// sqliteTime is how SQLite stores a timestamp: UTC, fixed width, so text
// order is time order. Microseconds, because that is PostgreSQL's precision
// and both dialects must round-trip the same value.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// now is the store's clock, at the precision both dialects keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// dbTime converts t for a query parameter; the zero time is NULL.
func (s *Store) dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == SQLite {
		return t.Format(sqliteTime)
	}
	return t
}

func (s *Store) dbTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.dbTime(*t)
}

// timeCol scans a timestamp as either dialect returns it; NULL is the zero
// time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = x.UTC()
	case string:
		return c.parse(x)
	case []byte:
		return c.parse(string(x))
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*c.t = t.UTC()
	return nil
}

// nullTimeCol scans a nullable timestamp into a *time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(v); err != nil {
		return err
	}
	*c.t = &t
	return nil
}

// nullID maps our "0 means none" ids to NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// idCol scans a nullable id; NULL is 0.
type idCol struct{ id *int64 }

func (c idCol) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*c.id = n.Int64
	return nil
}

// listJSON encodes a string list for a TEXT column.
func listJSON(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// listCol scans a JSON string list; an empty list is nil.
type listCol struct{ l *[]string }

func (c listCol) Scan(v any) error {
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return err
	}
	*c.l = nil
	if !s.Valid || s.String == "" || s.String == "[]" {
		return nil
	}
	if err := json.Unmarshal([]byte(s.String), c.l); err != nil {
		return fmt.Errorf("scan list: %w", err)
	}
	return nil
}

// jsonCol scans an optional JSON document; NULL or empty is nil.
type jsonCol struct{ j *json.RawMessage }

func (c jsonCol) Scan(v any) error {
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return err
	}
	*c.j = nil
	if s.Valid && s.String != "" {
		*c.j = json.RawMessage(s.String)
	}
	return nil
}

// rawJSON validates an optional JSON document for a TEXT column; nil or
// empty is NULL.
func rawJSON(field string, j json.RawMessage) (any, error) {
	if len(j) == 0 {
		return nil, nil
	}
	if !json.Valid(j) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	return string(j), nil
}

// notFound turns sql.ErrNoRows into ErrNotFound, with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// placeholders returns "$from, $from+1, …" for n parameters.
func placeholders(from, n int) string {
	b := make([]byte, 0, n*4)
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, fmt.Sprintf("$%d", from+i)...)
	}
	return string(b)
}
