package e2e

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// A replay plan is the captured transaction with its keys made variable:
// the webhook's MessageSid and sender come from a random key per
// transaction, and every id or ticket number a statement RETURNed and a
// later one used comes from that statement's result in the replay. The
// plan renders as a pgbench script, or runs from Go (SQLite).

type piece struct {
	lit  string
	key  bool   // the transaction's key, as text
	ref  string // a returned value
	pad  int    // ref zero-padded to this width
	neg  bool   // minus ref (a pending ticket's placeholder number)
	null bool
}

// arg is one parameter: a constant (one literal piece, or NULL) or a
// concatenation of pieces.
type arg []piece

type rstep struct {
	sql     string
	args    []arg
	returns []string // columns whose values later steps use, named "s<i>_<col>"
	prefix  string
}

type plan struct {
	name  string
	steps []rstep
	// consts holds the captured values the floor keeps ("const:<ref>"),
	// and refTable the table each returned value came from.
	consts   map[string]string
	refTable map[string]string
}

var (
	returningCols = regexp.MustCompile(`(?is)\bRETURNING\s+([a-z_][a-z_0-9]*(?:\s*,\s*[a-z_][a-z_0-9]*)*)\s*$`)
	writeTable    = regexp.MustCompile(`(?is)^\s*(?:INSERT\s+INTO|UPDATE)\s+([a-z_][a-z_0-9]*)`)
	placeholder   = regexp.MustCompile(`\$(\d+)`)
	// The store makes a contact and its identity in one statement on
	// PostgreSQL (Tx.CreateContact): its result's id is the contact's.
	contactCTE = regexp.MustCompile(`(?is)^\s*WITH\s+c\s+AS\s*\(\s*INSERT\s+INTO\s+contacts\b`)
	// A ticket and its "created" event are one statement (Tx.insertTicket):
	// its result is the ticket's id.
	ticketCTE = regexp.MustCompile(`(?is)^\s*WITH\s+t\s+AS\s*\(\s*INSERT\s+INTO\s+tickets\b`)
	// A new conversation and its first message are one statement too
	// (Tx.InsertMessageInNewConversation): it returns the message's id and
	// the conversation's.
	newConvCTE = regexp.MustCompile(`(?is)^\s*WITH\s+c\s+AS\s*\(\s*INSERT\s+INTO\s+conversations\b`)
	// Someone new's first message makes the contact, its identity and the
	// conversation in its statement (Tx.InsertMessageFromNewContact): it
	// returns the message's, the conversation's and the contact's ids, and
	// whether the identity was the contact's.
	newContactCTE = regexp.MustCompile(`(?is)^\s*WITH\s+k\s+AS\s*\(\s*INSERT\s+INTO\s+contacts\b`)
)

// cteTable is, for contactCTE's or ticketCTE's statement, the table of
// the row whose id it returns, and the table of the other row it makes
// that no later step refers to ("" for contactCTE: its identity has no id
// of its own).
func cteTable(q string) (table, with string) {
	switch {
	case contactCTE.MatchString(q):
		return "contacts", ""
	case ticketCTE.MatchString(q):
		return "tickets", "ticket_events"
	}
	return "", ""
}

// newContactCheck is newContactCTE's last result, which no replay needs: a
// replay's sender is always new.
const newContactCheck = ", EXISTS (SELECT 1 FROM i)"

// madeWithMessage is, for the message statement of newConvCTE or
// newContactCTE, the tables of the rows it returns the ids of (id,
// conversation_id, contact_id); nil for any other statement.
func madeWithMessage(q string) []string {
	switch {
	case newContactCTE.MatchString(q):
		return []string{"messages", "conversations", "contacts"}
	case newConvCTE.MatchString(q):
		return []string{"messages", "conversations"}
	}
	return nil
}

// newConvArgs is how many parameters the message of newConvCTE has; the
// conversation's follow.
const newConvArgs = 29

// plainMessageInsert is newConvCTE's message insert alone, its conversation
// a parameter ($3) again.
func plainMessageInsert(q string) string {
	q = q[strings.Index(q, "INSERT INTO messages"):]
	q = strings.Replace(q, "coalesce($4::bigint, (SELECT id FROM k))", "$4", 1)
	return strings.Replace(q, "coalesce($3::bigint, (SELECT id FROM c))", "$3", 1)
}

// perRowSearch is the store's search insert of one message, as it was
// written a row a statement: the captured transaction's one-row
// json_to_recordset insert is replayed in this form, so that its message
// and conversation ids follow the replay's own rows (inside the JSON they
// would stay the captured ones and conflict after the first replay).
const perRowSearch = `INSERT INTO message_search (message_id, conversation_id, doc)
		VALUES ($1, $2, $3::tsvector) ON CONFLICT DO NOTHING`

// perRowNumbering is the store's numbering of a batch's pending tickets
// (Tx.NumberTickets, an unnest of three arrays on PostgreSQL) for one
// ticket, the form SQLite's store uses: so that the ticket's id, number
// and reference follow the replay's own rows.
const perRowNumbering = `UPDATE tickets SET number = $2, ref = $3 WHERE id = $1 AND number < 0`

// planFromCapture builds the full replay and the floor (the messages row
// and its outbound_messages row only).
func planFromCapture(ctx context.Context, t *testing.T, tx capturedTx) (full, floor plan) {
	t.Helper()
	var rets refMap
	seen := map[string]int{}
	full = plan{name: "full", consts: map[string]string{}, refTable: map[string]string{}}
	var msgIdx, outIdx = -1, -1
	for i, st := range tx.stmts {
		low := strings.ToLower(strings.TrimSpace(st.sql))
		if low == "begin" || low == "commit" || strings.HasPrefix(low, "begin ") {
			continue
		}
		s := rstep{sql: st.sql, prefix: fmt.Sprintf("s%d_", i)}
		params := st.params
		if strings.Contains(st.sql, "json_to_recordset") && strings.Contains(st.sql, "message_search") && len(params) == 1 && params[0] != nil {
			var rows []struct {
				R int64  `json:"r"`
				B string `json:"b"`
				C int64  `json:"c"`
			}
			if err := json.Unmarshal([]byte(*params[0]), &rows); err != nil || len(rows) != 1 {
				t.Fatalf("capture: search rows %.80q: want one message's (%v)", *params[0], err)
			}
			r, c := strconv.FormatInt(rows[0].R, 10), strconv.FormatInt(rows[0].C, 10)
			s.sql, params = perRowSearch, []*string{&r, &c, &rows[0].B}
		}
		if strings.Contains(st.sql, "UPDATE tickets t SET number = u.number") && len(params) == 3 {
			one := make([]*string, 3)
			for j, p := range params {
				if p == nil || !strings.HasPrefix(*p, "{") || !strings.HasSuffix(*p, "}") || strings.ContainsAny(*p, `,"`) {
					t.Fatalf("capture: ticket numbering %v: want one ticket's", params)
				}
				v := strings.TrimSuffix(strings.TrimPrefix(*p, "{"), "}")
				one[j] = &v
			}
			s.sql, params = perRowNumbering, one
		}
		for _, p := range params {
			s.args = append(s.args, variableArg(p, tx, rets))
		}
		if strings.Contains(st.sql, "INSERT INTO blob_data") && len(s.args) == 2 {
			// The raw copy's digest: one of the transaction's own, so that
			// each replay stores its copy as the gateway would, not a
			// conflict with the first.
			s.args[0] = arg{{lit: "{"}, {key: true}, {lit: "}"}}
		}
		if made := madeWithMessage(s.sql); made != nil {
			// The message's statement returns its id and the ids of the
			// rows its CTEs made.
			s.sql = strings.Replace(s.sql, newContactCheck, "", 1)
			cols := []string{"id", "conversation_id", "contact_id"}[:len(made)]
			vals, err := tx.returning(ctx, "messages", strings.Join(cols, ", "), seen["messages"])
			if err != nil {
				t.Fatalf("capture: %v", err)
			}
			for i, col := range cols {
				rets = append(rets, struct{ name, val string }{s.prefix + col, vals[col]})
				full.consts["const:"+s.prefix+col] = vals[col]
				full.refTable[s.prefix+col] = made[i]
				seen[made[i]]++
			}
			s.returns = cols
			msgIdx = len(full.steps)
		} else if table, with := cteTable(s.sql); table != "" {
			vals, err := tx.returning(ctx, table, "id", seen[table])
			if err != nil {
				t.Fatalf("capture: %v", err)
			}
			rets = append(rets, struct{ name, val string }{s.prefix + "id", vals["id"]})
			full.consts["const:"+s.prefix+"id"] = vals["id"]
			full.refTable[s.prefix+"id"] = table
			s.returns = []string{"id"}
			seen[table]++
			if with != "" {
				seen[with]++
			}
		} else if m := writeTable.FindStringSubmatch(s.sql); m != nil {
			table := strings.ToLower(m[1])
			if c := returningCols.FindStringSubmatch(s.sql); c != nil {
				vals, err := tx.returning(ctx, table, c[1], seen[table])
				if err != nil {
					t.Fatalf("capture: %v", err)
				}
				for col, v := range vals {
					rets = append(rets, struct{ name, val string }{s.prefix + col, v})
					full.consts["const:"+s.prefix+col] = v
					full.refTable[s.prefix+col] = table
				}
				s.returns = strings.Split(strings.ReplaceAll(c[1], " ", ""), ",")
			}
			seen[table]++
			switch {
			case table == "messages":
				msgIdx = len(full.steps)
			case table == "outbound_messages":
				outIdx = len(full.steps)
			}
		}
		full.steps = append(full.steps, s)
	}
	// A step's RETURNING is read only if a later step uses it.
	used := map[string]bool{}
	for _, s := range full.steps {
		for _, a := range s.args {
			for _, p := range a {
				if p.ref != "" {
					used[p.ref] = true
				}
			}
		}
	}
	for i, s := range full.steps {
		var keep []string
		for _, c := range s.returns {
			if used[s.prefix+c] {
				keep = append(keep, c)
			}
		}
		full.steps[i].returns = keep
	}
	if msgIdx < 0 || outIdx < 0 {
		t.Fatalf("capture: no INSERT INTO messages or outbound_messages in the transaction")
	}
	// The floor: the same two INSERTs, into an existing conversation (its
	// other references kept as captured); the outbound row refers to the
	// new message.
	m, o := full.steps[msgIdx], full.steps[outIdx]
	if made := madeWithMessage(m.sql); made != nil {
		// The message alone, into the conversation (of the contact) the
		// capture made.
		m.sql = plainMessageInsert(m.sql)
		m.args = append([]arg{}, m.args[:newConvArgs]...)
		m.args[2] = arg{{ref: m.prefix + "conversation_id"}}
		if len(made) > 2 {
			m.args[3] = arg{{ref: m.prefix + "contact_id"}}
		}
	}
	m.args = constRefs(m.args, "")
	o.args = constRefs(o.args, m.prefix+"id")
	m.returns = []string{"id"}
	o.returns = nil
	floor = plan{name: "floor", steps: []rstep{m, o}, consts: full.consts, refTable: full.refTable}
	return full, floor
}

// refMap is the values earlier statements returned, by variable.
type refMap []struct{ name, val string }

// zpad pads s with zeros on the left to width.
func zpad(s string, width int) string {
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}

// variableArg makes a captured value variable where it must differ per
// transaction: the sid and the sender (as the key), a value an earlier
// statement returned, and a ticket reference (…-000123) built from a
// returned number. JSON values stay as captured: concatenated text would
// not be JSON-typed, and no unique key lives in them.
func variableArg(p *string, tx capturedTx, refs refMap) arg {
	if p == nil {
		return arg{{null: true}}
	}
	v := *p
	for _, r := range refs {
		if v == r.val {
			return arg{{ref: r.name}}
		}
		if v == "-"+r.val {
			return arg{{ref: r.name, neg: true}}
		}
	}
	if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
		return arg{{lit: v}}
	}
	var out arg
	for v != "" {
		i, n, ps := len(v), 0, piece{}
		if j := strings.Index(v, tx.sid); j >= 0 && j < i {
			i, n, ps = j, len(tx.sid), piece{lit: "SM"}
		}
		if j := strings.Index(v, tx.from); j >= 0 && j < i {
			i, n, ps = j, len(tx.from), piece{lit: "+"}
		}
		for _, r := range refs {
			// An id (sequences are a million apart: seven digits or more)
			// inside a text, as a pending ticket's reference holds its
			// message's.
			if _, err := strconv.Atoi(r.val); err == nil && len(r.val) >= 7 {
				if j := strings.Index(v, r.val); j >= 0 && j < i {
					i, n, ps = j, len(r.val), piece{ref: r.name}
				}
			}
			padded := "-" + zpad(r.val, 6)
			if _, err := strconv.Atoi(r.val); err == nil && len(r.val) < 6 {
				if j := strings.Index(v, padded); j >= 0 && j < i {
					i, n, ps = j+1, len(padded)-1, piece{ref: r.name, pad: 6}
				}
			}
		}
		if i > 0 {
			out = append(out, piece{lit: v[:i]})
		}
		if n == 0 {
			break
		}
		if ps.ref != "" {
			out = append(out, ps)
		} else {
			out = append(out, piece{lit: ps.lit}, piece{key: true})
		}
		v = v[i+n:]
	}
	if len(out) == 0 {
		out = arg{{lit: ""}}
	}
	return out
}

// constRefs replaces every reference to an earlier statement's result by
// the captured value (an existing row), except the one named keep.
func constRefs(args []arg, keep string) []arg {
	out := make([]arg, len(args))
	for i, a := range args {
		b := make(arg, len(a))
		for j, pc := range a {
			if pc.ref != "" && pc.ref != keep && !strings.HasPrefix(pc.ref, "const:") {
				pc.ref = "const:" + pc.ref
			}
			b[j] = pc
		}
		out[i] = b
	}
	return out
}

// sqlLiteral quotes s for a pgbench script: pgbench takes a colon followed
// by a name as a variable even inside quotes, so colons are escaped.
func sqlLiteral(s string) string {
	if !strings.ContainsAny(s, ":\\") {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, ":", `\x3a`)
	return "E'" + r.Replace(s) + "'"
}

// pgbenchScript renders the plan; consts maps "const:<ref>" values, and
// spread draws a "const:<ref>" at random from a range of existing ids
// instead (see spreadRefs).
func (p plan) pgbenchScript(consts map[string]string, spread map[string][2]int64) string {
	var b strings.Builder
	// The key is a message's unique MessageSid: drawn from all of int64,
	// so that two of the few hundred thousand transactions of a run meet
	// once in ~10^8 runs (from 1..10^12 they did, about once in 60).
	b.WriteString("\\set key random(1, 9223372036854775806)\n")
	for ref, r := range spread {
		fmt.Fprintf(&b, "\\set %s random(%d, %d)\n", spreadVar(ref), r[0], r[1])
	}
	b.WriteString("BEGIN;\n")
	for _, s := range p.steps {
		q := placeholder.ReplaceAllStringFunc(s.sql, func(m string) string {
			n, _ := strconv.Atoi(m[1:])
			a := s.args[n-1]
			var parts []string
			for _, pc := range a {
				switch {
				case pc.null:
					parts = append(parts, "NULL")
				case pc.key:
					parts = append(parts, ":key::text")
				case strings.HasPrefix(pc.ref, "const:") && spread[pc.ref] != [2]int64{} && pc.pad == 0:
					parts = append(parts, ":"+spreadVar(pc.ref))
				case strings.HasPrefix(pc.ref, "const:"):
					parts = append(parts, sqlLiteral(zpad(consts[pc.ref], pc.pad)))
				case pc.ref != "" && pc.pad > 0:
					parts = append(parts, fmt.Sprintf("lpad(:%s::text, %d, '0')", pc.ref, pc.pad))
				case pc.neg:
					parts = append(parts, fmt.Sprintf("(-:%s::bigint)", pc.ref))
				case pc.ref != "" && len(a) > 1:
					parts = append(parts, ":"+pc.ref+"::text")
				case pc.ref != "":
					parts = append(parts, ":"+pc.ref)
				default:
					parts = append(parts, sqlLiteral(pc.lit))
				}
			}
			if len(parts) == 1 {
				return parts[0]
			}
			return "(" + strings.Join(parts, " || ") + ")"
		})
		q = escapeLiterals(stripComments(q))
		b.WriteString(strings.TrimSpace(q))
		if len(s.returns) > 0 {
			b.WriteString(" \\gset " + s.prefix + "\n")
		} else {
			b.WriteString(";\n")
		}
	}
	b.WriteString("COMMIT;\n")
	return b.String()
}

func spreadVar(ref string) string { return "c_" + strings.TrimPrefix(ref, "const:") }

// spreadRefs finds, for each existing row the floor refers to (its
// conversation, contact and ticket), a range of ids that all exist in the
// database (rows the replays of the full transaction made), so that the
// floor's transactions do not all lock one parent row for their foreign
// keys, which no real load does: PostgreSQL turns many share locks on one
// row into multixacts, and the floor would measure that.
func (p plan) spreadRefs(ctx context.Context, db *sql.DB, seqBase map[string]int64) map[string][2]int64 {
	out := map[string][2]int64{}
	for ref, table := range p.refTable {
		if table != "conversations" && table != "contacts" && table != "tickets" {
			continue
		}
		var lo, hi, n sql.NullInt64
		err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT min(id), max(id), count(*) FROM %s WHERE id > $1`, table), seqBase[table+"_id_seq"]).Scan(&lo, &hi, &n)
		if err == nil && n.Int64 > 1 && hi.Int64-lo.Int64+1 == n.Int64 {
			out["const:"+ref] = [2]int64{lo.Int64, hi.Int64}
		}
	}
	return out
}

func stripComments(q string) string {
	var out []string
	for _, line := range strings.Split(q, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// escapeLiterals rewrites the string literals of a statement's own text
// (e.g. '0001-01-01 00:00:00 +0000') with sqlLiteral, leaving E'…' ones
// (already escaped) alone.
func escapeLiterals(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] != '\'' {
			b.WriteByte(q[i])
			continue
		}
		if i > 0 && (q[i-1] == 'E') {
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '\\' {
					j++
					continue
				}
				if q[j] == '\'' {
					break
				}
			}
			b.WriteString(q[i : j+1])
			i = j
			continue
		}
		j := i + 1
		var lit strings.Builder
		for ; j < len(q); j++ {
			if q[j] == '\'' {
				if j+1 < len(q) && q[j+1] == '\'' {
					lit.WriteByte('\'')
					j++
					continue
				}
				break
			}
			lit.WriteByte(q[j])
		}
		b.WriteString(sqlLiteral(lit.String()))
		i = j
	}
	return b.String()
}

// A new conversation's columns (the store's), and its insert on SQLite.
const (
	convArgs                 = 11
	sqliteConversationInsert = `INSERT INTO conversations (contact_id, channel_id, subject, status, cites_foreign_ticket,
		topic, scope, language, department, last_message_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`
)

// sqliteStep is what a captured PostgreSQL statement is on SQLite, as the
// store and River's SQLite driver write it: the search index is FTS5 plus
// search_terms, River's insert is its own, and SQLite has no NOTIFY.
func sqliteStep(s rstep) []rstep {
	switch {
	case newConvCTE.MatchString(s.sql) && len(s.args) == newConvArgs+convArgs:
		// Two statements on SQLite, the conversation's and the message's.
		msg := rstep{sql: plainMessageInsert(s.sql), args: append([]arg{}, s.args[:newConvArgs]...), returns: s.returns, prefix: s.prefix}
		msg.args[2] = arg{{ref: s.prefix + "cid"}}
		return []rstep{
			{sql: sqliteConversationInsert, args: s.args[newConvArgs:], returns: []string{"id"}, prefix: s.prefix + "c"},
			msg,
		}
	case newContactCTE.MatchString(s.sql) && len(s.args) == newConvArgs+3+(convArgs-1): // the contact's three, the conversation's but its contact
		// Four statements on SQLite: the contact's, its identity's, the
		// conversation's and the message's.
		k, c := s.prefix+"k", s.prefix+"c"
		msg := rstep{sql: plainMessageInsert(s.sql), args: append([]arg{}, s.args[:newConvArgs]...), returns: s.returns, prefix: s.prefix}
		msg.args[2], msg.args[3] = arg{{ref: c + "id"}}, arg{{ref: k + "id"}}
		extra := s.args[newConvArgs:]
		return []rstep{
			{sql: `INSERT INTO contacts (display_name, language, created_at) VALUES ($1, $2, $3) RETURNING id`,
				args: extra[:3], returns: []string{"id"}, prefix: k},
			{sql: `INSERT INTO contact_identities (kind, value, contact_id, name, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				args: []arg{s.args[4], s.args[5], {{ref: k + "id"}}, s.args[6], extra[2]}},
			{sql: sqliteConversationInsert, args: append([]arg{{{ref: k + "id"}}}, extra[3:]...), returns: []string{"id"}, prefix: c},
			msg,
		}
	case contactCTE.MatchString(s.sql) && len(s.args) == 6:
		// Two statements on SQLite, the contact's and its identity's.
		return []rstep{
			{sql: `INSERT INTO contacts (display_name, language, created_at) VALUES ($1, $2, $3) RETURNING id`,
				args: s.args[:3], returns: []string{"id"}, prefix: s.prefix},
			{sql: `INSERT INTO contact_identities (kind, value, contact_id, name, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				args: []arg{s.args[3], s.args[4], {{ref: s.prefix + "id"}}, s.args[5], s.args[2]}},
		}
	case ticketCTE.MatchString(s.sql) && len(s.args) >= 12:
		// Two statements on SQLite, the ticket's and its event's.
		inner, _, ok := strings.Cut(s.sql[strings.Index(s.sql, "(")+1:], "), e AS (")
		if !ok {
			break
		}
		return []rstep{
			{sql: inner, args: s.args, returns: []string{"id"}, prefix: s.prefix},
			{sql: `INSERT INTO ticket_events (ticket_id, kind, actor, from_status, to_status, note, created_at)
				VALUES ($1, 'created', 'system', '', $2, '', $3)`, args: []arg{{{ref: s.prefix + "id"}}, s.args[8], s.args[11]}},
		}
	case strings.Contains(s.sql, "PGNotifyMany"):
		return nil
	case strings.Contains(s.sql, "JobInsertFastMany"):
		return []rstep{{sql: `INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags)
			VALUES (jsonb($1), datetime('now', 'subsec'), 'send_outbound', 25, jsonb('{}'), 1, 'send', datetime('now', 'subsec'), 'available', jsonb('[]'))
			RETURNING id`, args: []arg{{{lit: `{"channel_id": 1, "outbound_id": 1}`}}}}}
	case strings.Contains(s.sql, "INSERT INTO blob_data"):
		// One row a blob, as the store writes it on SQLite.
		data := ""
		if len(s.args) == 2 && len(s.args[1]) == 1 {
			data = pgByteaArrayOne(s.args[1][0].lit)
		}
		stored, codec := store.EncodeSQLiteBlob([]byte(data))
		return []rstep{{sql: `INSERT INTO blob_data (sha256, data, codec) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
			args: []arg{{{key: true}}, {{lit: string(stored)}}, {{lit: codec}}}}}
	case strings.Contains(s.sql, "INSERT INTO message_search"):
		doc := s.args[2]
		words := "[]"
		if len(doc) == 1 {
			b, _ := json.Marshal(strings.Fields(doc[0].lit))
			words = string(b)
		}
		return []rstep{
			{sql: `INSERT INTO message_search (rowid, body, conversation_id) VALUES ($1, $2, $3)`, args: []arg{s.args[0], doc, s.args[1]}},
			{sql: `INSERT OR IGNORE INTO search_terms (term) SELECT value FROM json_each($1)`, args: []arg{{{lit: words}}}},
		}
	}
	return []rstep{s}
}

// pgByteaArrayOne is the bytes of a one-element bytea[] in PostgreSQL's
// text form ({"\\x4142"} or {\\x4142}), as the statement log shows it; the
// literal itself if it is not one.
func pgByteaArrayOne(lit string) string {
	v := strings.Trim(strings.TrimSuffix(strings.TrimPrefix(lit, "{"), "}"), `"`)
	v = strings.TrimPrefix(strings.TrimPrefix(v, `\\`), `\`)
	if b, err := hex.DecodeString(strings.TrimPrefix(v, "x")); err == nil {
		return string(b)
	}
	return lit
}

// goRunner runs a plan from Go on a database/sql pool.
type goRunner struct {
	db      *sql.DB
	steps   []rstep
	consts  map[string]string
	sqlite  bool
	writeMu chan struct{} // the store's one writer on SQLite
	base    int64         // the first key: unique to the run (start time)
	keys    atomic.Int64

	// Each statement prepared once (database/sql then keeps it prepared
	// on every connection), as the store's own are.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (r *goRunner) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	r.mu.Lock()
	st, ok := r.stmts[query]
	if !ok {
		var err error
		if st, err = r.db.PrepareContext(ctx, query); err != nil {
			r.mu.Unlock()
			return nil, err
		}
		if r.stmts == nil {
			r.stmts = map[string]*sql.Stmt{}
		}
		r.stmts[query] = st
	}
	r.mu.Unlock()
	return tx.StmtContext(ctx, st), nil
}

func (r *goRunner) args(s rstep, key string, vars map[string]string) []any {
	out := make([]any, len(s.args))
	for i, a := range s.args {
		if len(a) == 1 && a[0].null {
			out[i] = nil
			continue
		}
		var b strings.Builder
		for _, pc := range a {
			switch {
			case pc.key:
				b.WriteString(key)
			case strings.HasPrefix(pc.ref, "const:"):
				b.WriteString(zpad(r.consts[pc.ref], pc.pad))
			case pc.ref != "" && pc.pad > 0:
				b.WriteString(zpad(vars[pc.ref], pc.pad))
			case pc.neg:
				b.WriteString("-" + vars[pc.ref])
			case pc.ref != "":
				b.WriteString(vars[pc.ref])
			default:
				b.WriteString(pc.lit)
			}
		}
		v := b.String()
		if r.sqlite && (v == "t" || v == "f") && len(a) == 1 && a[0].ref == "" {
			out[i] = v == "t"
			continue
		}
		out[i] = v
	}
	return out
}

func (r *goRunner) once(ctx context.Context) error {
	if r.writeMu != nil {
		r.writeMu <- struct{}{}
		defer func() { <-r.writeMu }()
	}
	// Unique: a run's keys count up from its start time in nanoseconds,
	// and a run makes far fewer keys than nanoseconds pass.
	key := strconv.FormatInt(r.base+r.keys.Add(1), 10)
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	vars := map[string]string{}
	for _, s := range r.steps {
		a := r.args(s, key, vars)
		if len(s.returns) == 0 {
			st, err := r.stmt(ctx, tx, s.sql)
			if err == nil {
				_, err = st.ExecContext(ctx, a...)
			}
			if err != nil {
				return fmt.Errorf("%.60s: %w", strings.TrimSpace(s.sql), err)
			}
			continue
		}
		vals := make([]sql.NullString, len(s.returns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		// Only the columns used are read: RETURNING is rewritten to them.
		q := returningCols.ReplaceAllString(s.sql, "RETURNING "+strings.Join(s.returns, ", "))
		st, err := r.stmt(ctx, tx, q)
		if err == nil {
			err = st.QueryRowContext(ctx, a...).Scan(ptrs...)
		}
		if err != nil {
			return fmt.Errorf("%.60s: %w", strings.TrimSpace(s.sql), err)
		}
		for i, c := range s.returns {
			vars[s.prefix+c] = vals[i].String
		}
	}
	return tx.Commit()
}

// run runs the plan from clients goroutines for d and returns tx/s.
func (r *goRunner) run(ctx context.Context, clients int, d time.Duration) (float64, error) {
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := r.once(ctx); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), firstErr
}
