package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// The gateway's own ingest transaction, captured from PostgreSQL's log
// (log_statement = all) while it takes one SMS webhook, and turned into
// pgbench scripts: the whole transaction with its keys varied, and the
// floor any design needs (the message and its outbox row).

// loggedStmt is one statement of the captured transaction: its SQL and the
// parameters it was executed with (nil for NULL).
type loggedStmt struct {
	sql    string
	params []*string
}

// capturedTx is the captured transaction and what identifies it.
type capturedTx struct {
	stmts []loggedStmt
	xid   string
	sid   string // the webhook's MessageSid
	from  string // its sender
	db    *sql.DB
	name  string // the database
	// seqBase is where each sequence was set before the webhook: the k-th
	// id a table's sequence gave the transaction is base+k+1.
	seqBase map[string]int64
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] (\S+) (\S+) (LOG|DETAIL|ERROR|STATEMENT|WARNING|HINT|CONTEXT):  (.*)$`)

type logEntry struct {
	pid, vxid, xid, level, text string
}

func parseLog(s string) []logEntry {
	var out []logEntry
	for _, line := range strings.Split(s, "\n") {
		if m := logLine.FindStringSubmatch(line); m != nil {
			out = append(out, logEntry{pid: m[1], vxid: m[2], xid: m[3], level: m[4], text: m[5]})
		} else if len(out) > 0 {
			out[len(out)-1].text += "\n" + line
		}
	}
	return out
}

// parseParams reads a DETAIL line's "Parameters: $1 = '…', $2 = NULL".
func parseParams(s string) ([]*string, error) {
	s, ok := strings.CutPrefix(strings.Replace(s, "parameters: ", "Parameters: ", 1), "Parameters: ")
	if !ok {
		return nil, fmt.Errorf("not a parameter list: %.80q", s)
	}
	var out []*string
	for len(s) > 0 {
		var n int
		eq := strings.Index(s, " = ")
		if eq < 0 || s[0] != '$' {
			return nil, fmt.Errorf("parameter list at %.40q", s)
		}
		n, err := strconv.Atoi(s[1:eq])
		if err != nil || n != len(out)+1 {
			return nil, fmt.Errorf("parameter %q out of order", s[:eq])
		}
		s = s[eq+3:]
		switch {
		case strings.HasPrefix(s, "NULL"):
			out = append(out, nil)
			s = s[4:]
		case strings.HasPrefix(s, "'"):
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					break
				}
				b.WriteByte(s[i])
			}
			v := b.String()
			out = append(out, &v)
			s = s[i+1:]
		default:
			return nil, fmt.Errorf("parameter value at %.40q", s)
		}
		s = strings.TrimPrefix(s, ", ")
	}
	return out, nil
}

// captureIngest runs a gateway on a database of its own with every
// statement logged, sends it warm-up messages (so that the counters and
// caches are in their steady state), then one SMS request from a new
// customer, and returns that webhook's transaction.
func captureIngest(t *testing.T, c *loadCluster) capturedTx {
	t.Helper()
	const name = "wasl_capture"
	dbURL := c.newDB(name)
	c.exec("ALTER DATABASE " + name + " SET log_statement = 'all'")
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	g := newLoadGateway(t, dbURL, smsChannelYAML(fake.URL()))
	g.start()
	l := newSMSLoad(t, fake, g, 99)
	for range 2 * len(loadBodies) {
		l.post()
	}
	g.waitSettled(time.Minute, l.acked())
	// Each table's ids far apart from the others', so that a value in a
	// later statement names the row it refers to.
	seqBase := map[string]int64{}
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT sequencename, setval(format('%I.%I', schemaname, sequencename),
		1000000 * row_number() OVER (ORDER BY sequencename)) FROM pg_sequences`)
	if err != nil {
		t.Fatalf("capture: spread the sequences: %v", err)
	}
	for rows.Next() {
		var name string
		var base int64
		if err := rows.Scan(&name, &base); err != nil {
			t.Fatal(err)
		}
		seqBase[name] = base
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	offset := c.logSize()
	l.post() // loadBodies[0]: a request, so a ticket and an acknowledgement
	sent := l.since(l.count() - 1)[0]
	if sent.acked.IsZero() {
		t.Fatalf("capture: webhook not answered 200: %s", sent.answer)
	}
	g.waitSettled(time.Minute, l.acked())
	g.stop()
	c.exec("ALTER DATABASE " + name + " RESET log_statement")

	entries := parseLog(c.logSince(offset))
	// The transaction is the one whose INSERT INTO messages carried the sid.
	var pid, vxid string
	for i, e := range entries {
		if e.level == "LOG" && strings.Contains(e.text, "INSERT INTO messages") && i+1 < len(entries) &&
			entries[i+1].level == "DETAIL" && strings.Contains(entries[i+1].text, "'"+sent.sid+"'") {
			pid, vxid = e.pid, e.vxid
		}
	}
	if pid == "" {
		t.Fatalf("capture: no INSERT INTO messages with %s in the server log", sent.sid)
	}
	tx := capturedTx{sid: sent.sid, from: sent.from, name: name, db: g.store().DB(), seqBase: seqBase}
	for i, e := range entries {
		if e.pid != pid || e.vxid != vxid || e.level != "LOG" {
			continue
		}
		if e.xid != "0" {
			tx.xid = e.xid
		}
		var st loggedStmt
		switch {
		case strings.HasPrefix(e.text, "statement: "):
			st.sql = strings.TrimPrefix(e.text, "statement: ")
		case strings.HasPrefix(e.text, "execute "):
			_, st.sql, _ = strings.Cut(e.text, ": ")
			if i+1 < len(entries) && entries[i+1].level == "DETAIL" && entries[i+1].pid == pid {
				p, err := parseParams(entries[i+1].text)
				if err != nil {
					t.Fatalf("capture: %v", err)
				}
				st.params = p
			}
		default:
			continue
		}
		tx.stmts = append(tx.stmts, st)
	}
	if tx.xid == "" || len(tx.stmts) < 3 {
		t.Fatalf("capture: transaction of %s not found whole (xid %q, %d statements)", sent.sid, tx.xid, len(tx.stmts))
	}
	return tx
}

// returning is what a RETURNING clause of an INSERT or UPDATE on one table
// returned in the captured transaction, read back from the rows the
// transaction wrote (xmin): the k-th such statement on a table gets its
// k-th row.
func (tx capturedTx) returning(ctx context.Context, table, cols string, k int) (map[string]string, error) {
	// A row the transaction inserted may have been updated since (a sent
	// reply): an id is known from its sequence.
	if base, ok := tx.seqBase[table+"_id_seq"]; ok && strings.TrimSpace(cols) == "id" {
		return map[string]string{"id": strconv.FormatInt(base+int64(k)+1, 10)}, nil
	}
	rows, err := tx.db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE xmin::text = $1 ORDER BY ctid`, cols, table), tx.xid)
	if err != nil {
		return nil, fmt.Errorf("read back %s of %s: %w", cols, table, err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	for i := 0; rows.Next(); i++ {
		vals := make([]sql.NullString, len(names))
		ptrs := make([]any, len(names))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if i == k {
			out := map[string]string{}
			for j, n := range names {
				if vals[j].Valid {
					out[n] = vals[j].String
				}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("read back %s of %s: no row %d of transaction %s", cols, table, k, tx.xid)
}
