package store

import (
	"fmt"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// TestLookupsPlannedOnTheTableAsItIs: the dedupe and contact look-ups of a
// batch must not keep a plan made when their tables were nearly empty. On
// one connection (one transaction), they run often enough on a few rows for
// PostgreSQL to settle on a generic plan (a sequential scan is right for
// three rows), then the tables grow by 5,000 rows with no ANALYZE, as in
// a first sync before autovacuum comes round: the look-ups must then use
// the indexes (pg_stat_xact_user_tables counts this transaction's scans).
func TestLookupsPlannedOnTheTableAsItIs(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		if s.dialect != Postgres {
			// SQLite keeps no plan across a table's growth that would
			// matter here.
			return
		}
		f := seed(t, s)
		ctx := t.Context()
		mustTx(t, s, func(tx *Tx) error {
			var keys []MessageKey
			for i := range 3 {
				m := Message{ChannelID: f.ch.ID, ExternalID: fmt.Sprintf("small-%d", i), ConversationID: f.conv.ID, ContactID: f.contact.ID,
					From: message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}, Text: "projector"}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
				keys = append(keys, MessageKey{f.ch.ID, m.ExternalID})
			}
			ids := []IdentityKey{{message.IdentityEmail, "sara@example.com"}, {message.IdentityEmail, "nobody@example.com"}}
			lookups := func() error {
				if got, err := tx.LookupMessages(ctx, keys); err != nil || len(got) != len(keys) {
					return fmt.Errorf("LookupMessages = %d found, %v; want %d", len(got), err, len(keys))
				}
				if _, _, found, err := tx.LookupMessage(ctx, f.ch.ID, "small-1"); err != nil || !found {
					return fmt.Errorf("LookupMessage = %v, %v", found, err)
				}
				if got, err := tx.ContactsByIdentity(ctx, ids); err != nil || len(got) != 1 {
					return fmt.Errorf("ContactsByIdentity = %d found, %v; want 1", len(got), err)
				}
				return nil
			}
			for range 10 {
				if err := lookups(); err != nil {
					return err
				}
			}
			for _, grow := range []struct{ table, key, where string }{
				{"messages", "external_id", fmt.Sprintf("channel_id = %d AND external_id = 'small-0'", f.ch.ID)},
				{"contact_identities", "value", "value = 'sara@example.com'"},
			} {
				var cols string
				if err := tx.SQL().QueryRowContext(ctx, `SELECT string_agg(column_name, ', ') FROM information_schema.columns
					WHERE table_name = $1 AND column_name NOT IN ('id', $2)`, grow.table, grow.key).Scan(&cols); err != nil {
					return err
				}
				q := fmt.Sprintf(`INSERT INTO %[1]s (%[2]s, %[3]s) SELECT %[2]s || '-' || g, %[3]s FROM %[1]s, generate_series(1, 5000) g WHERE %[4]s`,
					grow.table, grow.key, cols, grow.where)
				if _, err := tx.SQL().ExecContext(ctx, q); err != nil {
					return fmt.Errorf("grow %s: %w", grow.table, err)
				}
			}
			scans := func() (n int64, err error) {
				err = tx.SQL().QueryRowContext(ctx, `SELECT sum(seq_scan) FROM pg_stat_xact_user_tables
					WHERE relname IN ('messages', 'contact_identities')`).Scan(&n)
				return n, err
			}
			before, err := scans()
			if err != nil {
				return err
			}
			if err := lookups(); err != nil {
				return err
			}
			after, err := scans()
			if err != nil {
				return err
			}
			if after != before {
				t.Errorf("the look-ups scanned messages or contact_identities whole %d times after they grew to 5,000 rows; want their indexes", after-before)
			}
			return nil
		})
	})
}
