package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

// Ticket event kinds the inbox adds; each records a person's action.
const (
	EventAssign = "assign"
	EventReply  = "reply"
	EventSnooze = "snooze"
)

// Ticket outcomes, recorded when a ticket is closed.
const (
	OutcomeDone    = "done"
	OutcomeNotDone = "not_done"
)

// InboxFilter selects the conversations of the inbox list, newest activity
// first; with a Query, newest matching message first (see searchPage).
type InboxFilter struct {
	Status     string       // open, closed, snoozed; "" for open and closed (not snoozed)
	Channel    message.Kind // "" for every channel
	Department string
	Assignee   string // "me", "unassigned", "" for anyone
	Scope      string // in, out, smalltalk, spam; "" for all but spam (spam shows only when asked for)
	Topic      string
	Language   string
	ContactID  int64
	// Query is full-text search over subjects and bodies, normalized like
	// the index (SetSearchNormalizer): conversations with a message that
	// has every word (each also as the start of a word).
	Query    string
	BeforeID int64 // keyset paging: conversations that sort after this one (in either order)
	Limit    int   // default 50, at most 500
	// ViewerID is who looks: "me", and whose read marks make "unread".
	ViewerID int64
	// Departments, when All is false, limits the list to conversations of
	// these departments, without a department, or assigned to ViewerID:
	// what an agent may see.
	All         bool
	Departments []string
	Now         time.Time // for snoozes; zero is now
}

// InboxRow is one conversation as the inbox shows it.
type InboxRow struct {
	Conversation
	ContactName  string          `json:"contact_name,omitempty"`
	Identities   []message.Party `json:"identities"`
	ChannelName  string          `json:"channel_name"`
	ChannelKind  message.Kind    `json:"channel_kind"`
	LastText     string          `json:"last_text,omitempty"`
	Messages     int             `json:"messages"` // inbound messages
	TicketID     int64           `json:"ticket_id,omitempty"`
	TicketRef    string          `json:"ticket_ref,omitempty"`
	TicketStatus string          `json:"ticket_status,omitempty"`
	SLADueAt     *time.Time      `json:"sla_due_at,omitempty"`
	AssigneeID   int64           `json:"assignee_id,omitempty"`
	AssigneeName string          `json:"assignee_name,omitempty"`
	Department   string          `json:"department,omitempty"`
	Topic        string          `json:"topic,omitempty"`
	Scope        string          `json:"scope,omitempty"`
	Language     string          `json:"language,omitempty"`
	Unread       bool            `json:"unread"`
	SnoozedUntil *time.Time      `json:"snoozed_until,omitempty"`
	RemindedAt   *time.Time      `json:"reminded_at,omitempty"`
}

// SetSearchNormalizer sets how text is normalized for the search index and
// for queries; the same function serves both, so they cannot disagree.
// The gateway passes the classifier's normalization (Arabic letter forms,
// diacritics, case). It must treat white space as a separator: a message
// is indexed a word at a time. Call it before the store is used; the
// default only folds case.
func (s *Store) SetSearchNormalizer(fn func(string) string) { s.normalize = fn }

func (s *Store) norm(text string) string {
	if s.normalize != nil {
		return s.normalize(text)
	}
	return strings.ToLower(text)
}

// searchTerms splits normalized text into words of letters and digits,
// which are safe in both FTS5 and tsquery syntax. A word longer than
// PostgreSQL's longest lexeme keeps its start (lexeme), in the index and
// in a query alike, on both dialects.
func (s *Store) searchTerms(text string) []string {
	terms := strings.FieldsFunc(s.norm(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) })
	for i, t := range terms {
		terms[i] = lexeme(t)
	}
	return terms
}

// maxQueryTerms bounds a search: every term is one more index probe.
const maxQueryTerms = 8

// indexMessage adds a stored message's subject and text to the search
// index, in the transaction that stored it. The rows wait for the end of
// the transaction (flushSearch), a statement for many messages: on SQLite
// FTS5 writes what it holds to disk at every statement that may need
// undoing, so one insert a message made a segment a message and the
// merges after them, most of a first sync's search cost; on PostgreSQL a
// backfill's batch spared a round trip a mail.
func (tx *Tx) indexMessage(ctx context.Context, m *Message) error {
	if m.ConversationID == 0 || m.Quarantined {
		return nil
	}
	terms := m.IndexTerms
	if terms == nil {
		terms = tx.s.IndexTerms(m.Subject, m.Text)
	}
	if len(terms) == 0 {
		return nil
	}
	if tx.s.dialect != SQLite {
		tx.search.add(m.ID, m.ConversationID, tsvectorDoc(terms), nil)
		return nil
	}
	// SQLite also keeps the words in search_terms, from which prefixes
	// expand.
	tx.search.add(m.ID, m.ConversationID, strings.Join(terms, " "), terms)
	return nil
}

// PostgreSQL's limits on a tsvector: the bytes of one lexeme and of all of
// them.
const (
	maxLexeme   = 2046
	maxTsvector = 1<<20 - 1
)

// tsvectorDoc is a message's terms as a tsvector's text, which PostgreSQL
// reads as it stands (flushSearch casts it): terms are letters and digits,
// nothing its syntax would need quoted, and each is there once, without a
// position, since a search asks only whether a message holds a term.
// Asking to_tsvector to parse the text again cost 2.3 s of database time
// for 10,000 mails against 1.4–1.8 s. A vocabulary beyond the tsvector's
// megabyte keeps the terms that come first.
func tsvectorDoc(terms []string) string {
	var b strings.Builder
	for _, t := range terms {
		if b.Len()+len(t) >= maxTsvector {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// lexeme is term cut to PostgreSQL's longest lexeme, at a rune's start.
// The cut is the same on SQLite, so a search finds the same messages on
// both.
func lexeme(term string) string {
	if len(term) <= maxLexeme {
		return term
	}
	n := maxLexeme
	for n > 0 && !utf8.RuneStart(term[n]) {
		n--
	}
	return term[:n]
}

// IndexTerms are the terms a message of subject and text is indexed by
// (Message.IndexTerms): pure, so a caller may make them before its
// transaction and on several goroutines. For many messages, a
// TermIndexer gives the same terms for less.
func (s *Store) IndexTerms(subject, text string) []string {
	return s.NewTermIndexer().Terms(subject, text)
}

// TermIndexer makes the IndexTerms of one message after another and keeps
// each word's terms between them: a mailbox's mails share most of their
// words (a thread quotes itself, a unit's requests its vocabulary), so a
// batch normalizes each distinct word once, not once a mail. It holds the
// words it has seen (substrings of the texts it was given) until it is
// dropped: keep one for a batch, on one goroutine.
type TermIndexer struct {
	s     *Store
	words map[string]*indexedWord
	terms []indexedTerm // by id
	ids   map[string]int32
	n     int // messages indexed, the current one's number
}

// indexedWord is a word's terms, by id, and the last message that had it.
type indexedWord struct {
	terms []int32
	last  int
}

// indexedTerm is a term and the last message that took it.
type indexedTerm struct {
	term string
	last int
}

// NewTermIndexer starts a TermIndexer.
func (s *Store) NewTermIndexer() *TermIndexer {
	return &TermIndexer{s: s, words: make(map[string]*indexedWord), ids: make(map[string]int32)}
}

// Terms are searchTerms of the texts, one after the other, with each term
// once, in the order of first occurrence. A search only asks whether a
// message holds every term (no phrases, no ranking), so a term indexed
// once answers as well as one indexed at every place it occurs; and each
// distinct word is normalized once, so a mail that quotes its thread again
// and again costs its vocabulary, not its length. Normalizing word by word
// gives the terms of the whole text because the normalizer maps each
// white-space rune to a separator on its own (SetSearchNormalizer).
func (ix *TermIndexer) Terms(texts ...string) []string {
	ix.n++
	var out []string
	for _, text := range texts {
		for w := range fields(text) {
			iw := ix.words[w]
			switch {
			case iw == nil:
				iw = &indexedWord{terms: ix.termIDs(w)}
				ix.words[w] = iw
			case iw.last == ix.n:
				continue // this message had the word already
			}
			iw.last = ix.n
			for _, id := range iw.terms {
				if t := &ix.terms[id]; t.last != ix.n {
					t.last = ix.n
					out = append(out, t.term)
				}
			}
		}
	}
	return out
}

// termIDs are the ids of word's terms, new terms numbered as they come.
func (ix *TermIndexer) termIDs(word string) []int32 {
	terms := ix.s.searchTerms(word)
	ids := make([]int32, len(terms))
	for i, t := range terms {
		id, ok := ix.ids[t]
		if !ok {
			id = int32(len(ix.terms))
			ix.ids[t] = id
			ix.terms = append(ix.terms, indexedTerm{term: t})
		}
		ids[i] = id
	}
	return ids
}

// fields yields the words of text between runs of white space, as
// strings.Fields splits it, without its slice and with a short way past
// the letters of Arabic and the other scripts below U+1680, none of which
// is white space: half of indexing a mail went on strings.Fields.
func fields(text string) iter.Seq[string] {
	return func(yield func(string) bool) {
		start := -1
		for i := 0; i < len(text); {
			c, size := rune(text[i]), 1
			var space bool
			if c < utf8.RuneSelf {
				space = c == ' ' || '\t' <= c && c <= '\r'
			} else {
				c, size = utf8.DecodeRuneInString(text[i:])
				space = (c == 0x85 || c == 0xA0 || c >= 0x1680) && unicode.IsSpace(c)
			}
			switch {
			case space && start >= 0:
				if !yield(text[start:i]) {
					return
				}
				start = -1
			case !space && start < 0:
				start = i
			}
			i += size
		}
		if start >= 0 {
			yield(text[start:])
		}
	}
}

// pendingSearch is a transaction's new search rows and, on SQLite, the
// words for search_terms, from which matchQuery expands prefixes.
type pendingSearch struct {
	docs  []searchDoc
	words []string
	seen  map[string]bool
}

// searchDoc is one message_search row, as flushSearch's statement reads it
// from JSON.
type searchDoc struct {
	RowID          int64  `json:"r"` // the message id
	Body           string `json:"b"`
	ConversationID int64  `json:"c"`
}

func (b *pendingSearch) add(messageID, conversationID int64, doc string, terms []string) {
	b.docs = append(b.docs, searchDoc{RowID: messageID, Body: doc, ConversationID: conversationID})
	if len(terms) == 0 {
		return // PostgreSQL keeps no search_terms
	}
	if b.seen == nil {
		b.seen = make(map[string]bool)
	}
	for _, t := range terms {
		if !b.seen[t] {
			b.seen[t] = true
			b.words = append(b.words, t)
		}
	}
}

// maxSearchFlush bounds the text of one statement of flushSearch: a
// backfill's batch of 10 KB mails in one statement held its whole FTS5
// work in memory at once (the gateway's peak RSS grew by about 15 MB).
const maxSearchFlush = 256 << 10

// flushSearch writes the transaction's search rows: a statement for each
// maxSearchFlush of text, and one for the words.
func (tx *Tx) flushSearch(ctx context.Context) error {
	b := &tx.search
	if len(b.docs) == 0 {
		return nil
	}
	for rest := b.docs; len(rest) > 0; {
		n := 0
		for size := 0; n < len(rest) && (n == 0 || size < maxSearchFlush); n++ {
			size += len(rest[n].Body)
		}
		docs, err := json.Marshal(rest[:n])
		if err != nil {
			return fmt.Errorf("index %d messages: %w", len(b.docs), err)
		}
		q := `INSERT INTO message_search (rowid, body, conversation_id)
			SELECT value->>'r', value->>'b', value->>'c' FROM json_each($1)`
		if tx.s.dialect != SQLite {
			q = `INSERT INTO message_search (message_id, conversation_id, doc)
				SELECT r, c, b::tsvector FROM json_to_recordset($1::json) AS d(r bigint, b text, c bigint)
				ON CONFLICT DO NOTHING`
		}
		if _, err := tx.tx.ExecContext(ctx, q, string(docs)); err != nil {
			return fmt.Errorf("index %d messages: %w", len(b.docs), err)
		}
		rest = rest[n:]
	}
	if tx.s.dialect != SQLite {
		*b = pendingSearch{}
		return nil
	}
	words, err := json.Marshal(b.words)
	if err != nil {
		return fmt.Errorf("index %d messages: %w", len(b.docs), err)
	}
	if _, err := tx.tx.ExecContext(ctx, `INSERT OR IGNORE INTO search_terms (term) SELECT value FROM json_each($1)`, string(words)); err != nil {
		return fmt.Errorf("index %d messages: search terms: %w", len(b.docs), err)
	}
	*b = pendingSearch{}
	return nil
}

// maxExpansion is how many indexed words a query term may stand for before
// SQLite is asked for the prefix itself (correct, but it collects every
// match first).
const maxExpansion = 32

// matchQuery is the full-text query for terms, each term also as the start
// of a word: a tsquery on PostgreSQL; on SQLite an FTS5 query in which each
// term is the OR of the indexed words it begins, which FTS5 streams newest
// first where a prefix query would not.
func (s *Store) matchQuery(ctx context.Context, q queryer, terms []string) (string, error) {
	if s.dialect == Postgres {
		// A tsquery's text, read as it stands like the index's tsvector
		// (tsvectorDoc), so both hold the terms the store made.
		out := make([]string, len(terms))
		for i, t := range terms {
			out[i] = t + ":*"
		}
		return strings.Join(out, " & "), nil
	}
	groups := make([]string, len(terms))
	for i, t := range terms {
		rows, err := q.QueryContext(ctx, `SELECT term FROM search_terms WHERE term >= $1 AND term < $2 ORDER BY term LIMIT $3`,
			t, t+"\U0010FFFF", maxExpansion+1)
		if err != nil {
			return "", fmt.Errorf("expand search term: %w", err)
		}
		words, err := collect(rows, func(r rowScanner) (string, error) {
			var w string
			return w, r.Scan(&w)
		}, "expand search term")
		if err != nil {
			return "", err
		}
		if len(words) > maxExpansion {
			groups[i] = `"` + t + `"*`
			continue
		}
		// The term itself too: the tokenizer folds some letters (Latin
		// accents), so a word can be indexed under a form search_terms
		// does not list.
		alts := []string{`"` + t + `"`}
		for _, w := range words {
			if w != t {
				alts = append(alts, `"`+w+`"`)
			}
		}
		groups[i] = "(" + strings.Join(alts, " OR ") + ")"
	}
	return strings.Join(groups, " AND "), nil
}

const inboxSelect = `SELECT c.id, c.contact_id, c.channel_id, c.subject, c.status, c.last_message_at, c.created_at,
	COALESCE(c.assignee_id, 0), COALESCE(u.name, ''), c.department, c.topic, c.scope, c.language, c.snoozed_until, c.reminded_at,
	ct.display_name, ch.name, ch.kind,
	COALESCE((SELECT substr(m.body_text, 1, 200) FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), ''),
	(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id),
	COALESCE(t.id, 0), COALESCE(t.ref, ''), COALESCE(t.status, ''), t.sla_due_at,
	CASE WHEN r.read_at IS NULL OR r.read_at < c.last_message_at THEN 1 ELSE 0 END
	FROM conversations c
	JOIN contacts ct ON ct.id = c.contact_id
	JOIN channels ch ON ch.id = c.channel_id
	LEFT JOIN users u ON u.id = c.assignee_id
	LEFT JOIN tickets t ON t.id = (SELECT max(t2.id) FROM tickets t2 WHERE t2.conversation_id = c.id)`

func scanInboxRow(r rowScanner) (InboxRow, error) {
	var c InboxRow
	err := r.Scan(&c.ID, &c.ContactID, &c.ChannelID, &c.Subject, &c.Status, timeCol{&c.LastMessageAt}, timeCol{&c.CreatedAt},
		&c.AssigneeID, &c.AssigneeName, &c.Department, &c.Topic, &c.Scope, &c.Language, nullTimeCol{&c.SnoozedUntil}, nullTimeCol{&c.RemindedAt},
		&c.ContactName, &c.ChannelName, &c.ChannelKind, &c.LastText, &c.Messages,
		&c.TicketID, &c.TicketRef, &c.TicketStatus, nullTimeCol{&c.SLADueAt}, &c.Unread)
	return c, err
}

// InboxList lists conversations for the inbox.
func (s *Store) InboxList(ctx context.Context, f InboxFilter) ([]InboxRow, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	at := f.Now
	if at.IsZero() {
		at = now()
	}
	switch f.Status {
	case "snoozed":
		where = append(where, "c.snoozed_until > "+arg(s.dbTime(at)))
	case ConversationOpen, ConversationClosed:
		where = append(where, "c.status = "+arg(f.Status))
		fallthrough
	default:
		where = append(where, "(c.snoozed_until IS NULL OR c.snoozed_until <= "+arg(s.dbTime(at))+")")
	}
	if f.Channel != "" {
		where = append(where, "ch.kind = "+arg(string(f.Channel)))
	}
	if f.Department != "" {
		where = append(where, "c.department = "+arg(f.Department))
	}
	switch f.Assignee {
	case "":
	case "me":
		where = append(where, "c.assignee_id = "+arg(f.ViewerID))
	case "unassigned":
		where = append(where, "c.assignee_id IS NULL")
	default:
		return nil, fmt.Errorf("inbox list: assignee %q: want me, unassigned or empty", f.Assignee)
	}
	if f.Scope == "" && f.ContactID == 0 {
		// Spam is kept, never answered, and out of the way: it shows under
		// its own filter (and on the sender's contact page).
		where = append(where, "c.scope <> 'spam'")
	}
	for col, v := range map[string]string{"c.scope": f.Scope, "c.topic": f.Topic, "c.language": f.Language} {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	if f.ContactID != 0 {
		where = append(where, "c.contact_id = "+arg(f.ContactID))
	}
	if !f.All {
		// On SQLite the unary + keeps these columns' indexes out of the
		// plan: an OR over them would collect every match and sort it,
		// where walking the activity index stops after one page.
		plus := ""
		if s.dialect == SQLite {
			plus = "+"
		}
		vis := []string{plus + "c.department = ''", plus + "c.assignee_id = " + arg(f.ViewerID)}
		if len(f.Departments) > 0 {
			ph := make([]string, len(f.Departments))
			for i, d := range f.Departments {
				ph[i] = arg(d)
			}
			vis = append(vis, plus+"c.department IN ("+strings.Join(ph, ", ")+")")
		}
		where = append(where, "("+strings.Join(vis, " OR ")+")")
	}
	terms := s.searchTerms(f.Query)
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	lim := limit(f.Limit)
	var rows []InboxRow
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var page string
		var order map[int64]int
		if len(terms) > 0 {
			ids, err := s.searchPage(ctx, tx, f, terms, where, args, lim)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			// The filters are applied: the page is its ids alone.
			args = args[:0]
			order = make(map[int64]int, len(ids))
			ph := make([]string, len(ids))
			for i, id := range ids {
				order[id] = i
				ph[i] = arg(id)
			}
			page = strings.Join(ph, ", ")
		} else {
			if f.BeforeID != 0 {
				// A row comparison, which both databases answer from the
				// (last_message_at, id) index.
				b := arg(f.BeforeID)
				where = append(where, `(c.last_message_at, c.id) < ((SELECT last_message_at FROM conversations WHERE id = `+b+`), `+b+`)`)
			}
			// Two steps: pick the page's ids on the indexed columns alone,
			// then compute the display columns (last text, counts, ticket)
			// for those rows only. A database that must sort evaluates
			// every selected column of every candidate row first.
			page = `SELECT c.id FROM conversations c`
			if f.Channel != "" {
				page += ` JOIN channels ch ON ch.id = c.channel_id`
			}
			if len(where) > 0 {
				page += " WHERE " + strings.Join(where, " AND ")
			}
			page += " ORDER BY c.last_message_at DESC, c.id DESC LIMIT " + arg(lim)
		}
		q := inboxSelect + ` LEFT JOIN conversation_reads r ON r.user_id = ` + arg(f.ViewerID) + ` AND r.conversation_id = c.id
		WHERE c.id IN (` + page + `)`
		if order == nil {
			q += ` ORDER BY c.last_message_at DESC, c.id DESC`
		}
		// A search's rows are put in order below: an ORDER BY here would
		// have SQLite walk the activity index past every conversation to
		// find its 50.
		res, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("inbox list: %w", err)
		}
		if rows, err = collect(res, scanInboxRow, "inbox list"); err != nil {
			return err
		}
		if order != nil {
			sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].ID] < order[rows[j].ID] })
		}
		return fillIdentities(ctx, tx, rows)
	})
	if rows == nil {
		rows = []InboxRow{}
	}
	return rows, err
}

// A search lists conversations by their newest matching message, newest
// first, rather than by last activity: that order is what the index can
// give without collecting every match of a common word first. Message ids
// follow arrival, so "newest" is the latest to reach Wasl. BeforeID pages
// on: the conversations whose newest match is older than BeforeID's.
//
// searchBatch is how many matching messages one step reads; several may
// belong to one conversation.
const searchBatch = 200

// searchPage picks the ids of one page of search results, in order. where
// and args are the list's filters on conversations c (and channels ch).
func (s *Store) searchPage(ctx context.Context, tx *sql.Tx, f InboxFilter, terms []string, where []string, args []any, lim int) ([]int64, error) {
	match, err := s.matchQuery(ctx, tx, terms)
	if err != nil {
		return nil, err
	}
	// with starts an argument list after the filters' own: add binds one
	// more and says its placeholder.
	with := func() (*[]any, func(any) string) {
		a := slices.Clip(args)
		return &a, func(v any) string {
			a = append(a, v)
			return fmt.Sprintf("$%d", len(a))
		}
	}
	pg := s.dialect == Postgres
	hit := func(ms, q string) string { // message_search row ms matches query q
		if pg {
			return ms + ".doc @@ " + q + "::tsquery"
		}
		return ms + ".message_search MATCH " + q
	}
	id := "ms.rowid"
	if pg {
		id = "ms.message_id"
	}
	top := int64(math.MaxInt64)
	if f.BeforeID != 0 {
		// BeforeID's newest match: the conversations already shown are
		// those with a match from there on.
		q := `SELECT COALESCE(max(m.id), 0) FROM messages m WHERE m.conversation_id = $1 AND EXISTS (
			SELECT 1 FROM message_search ms WHERE ` + hit("ms", "$2") + ` AND ` + id + ` = m.id)`
		if err := tx.QueryRowContext(ctx, q, f.BeforeID, match).Scan(&top); err != nil {
			return nil, fmt.Errorf("inbox search: page: %w", err)
		}
		if top == 0 {
			return nil, nil // it has no match, so no place among them
		}
	}
	// On SQLite, CROSS JOIN keeps message_search the outer loop, the one
	// that yields matches in order.
	cross := " CROSS JOIN "
	if pg {
		cross = " JOIN "
	}
	join := ""
	if f.Channel != "" {
		join = cross + "channels ch ON ch.id = c.channel_id"
	}
	var ids []int64
	seen := map[int64]bool{}
	// walk reads matches from the newest down, below cursor, and adds
	// their conversations that pass the filters; it reports how many
	// matches it read and the last one's id. On SQLite it reads at most n
	// matches that pass; on PostgreSQL every match among the n newest
	// messages, and tests the filters on each.
	walk := func(cursor int64, n int) (int, int64, error) {
		a, add := with()
		m := add(match)
		cond := slices.Clip(where)
		if f.BeforeID != 0 {
			// Not a conversation an earlier page showed.
			cond = append(cond, `NOT EXISTS (SELECT 1 FROM messages m2 WHERE m2.conversation_id = c.id AND m2.id >= `+add(top)+`
				AND EXISTS (SELECT 1 FROM message_search ms2 WHERE `+hit("ms2", m)+` AND `+strings.Replace(id, "ms.", "ms2.", 1)+` = m2.id))`)
		}
		var q string
		if pg {
			pass := "TRUE"
			if len(cond) > 0 {
				pass = "COALESCE(" + strings.Join(cond, " AND ") + ", FALSE)" // a NULL fails, as in WHERE
			}
			q = `SELECT ms.message_id, c.id, ` + pass + ` FROM (SELECT message_id, conversation_id, doc FROM message_search
				WHERE message_id < ` + add(cursor) + fmt.Sprintf(` ORDER BY message_id DESC LIMIT %d) ms`, n) + `
				JOIN conversations c ON c.id = ms.conversation_id` + join + ` WHERE ` + hit("ms", m) + ` ORDER BY ms.message_id DESC`
		} else {
			cond = append(cond, hit("ms", m), id+" < "+add(cursor))
			q = `SELECT ms.rowid, c.id, 1 FROM message_search ms CROSS JOIN conversations c ON c.id = ms.conversation_id` + join +
				` WHERE ` + strings.Join(cond, " AND ") + fmt.Sprintf(` ORDER BY ms.rowid DESC LIMIT %d`, n)
		}
		res, err := tx.QueryContext(ctx, q, *a...)
		if err != nil {
			return 0, 0, fmt.Errorf("inbox search: %w", err)
		}
		defer res.Close()
		read, last := 0, int64(0)
		for res.Next() {
			var conv int64
			var pass bool
			if err := res.Scan(&last, &conv, &pass); err != nil {
				return 0, 0, fmt.Errorf("inbox search: %w", err)
			}
			read++
			if pass && !seen[conv] && len(ids) < lim {
				seen[conv] = true
				ids = append(ids, conv)
			}
		}
		return read, last, res.Err()
	}
	if !pg {
		// FTS5 yields matches newest first and stops where we stop.
		for cursor := top; len(ids) < lim; {
			read, last, err := walk(cursor, searchBatch)
			if err != nil || read < searchBatch {
				return ids, err
			}
			cursor = last
		}
		return ids, nil
	}
	// PostgreSQL's GIN index yields matches in no order, and the planner
	// cannot know how rare a word is: walking the newest messages and
	// testing each is fast for a common word and reads the whole table for
	// a rare one. So test a window of the newest messages; if the page is
	// not full, a second window eight times larger when matches are so
	// frequent that collecting them all would cost more; then ask the index
	// for the rest.
	window, floor := 40*lim, top
	for step := 0; ; step++ {
		matches, _, err := walk(floor, window)
		if err != nil || len(ids) == lim {
			return ids, err
		}
		var low sql.NullInt64
		var inWindow int
		if err := tx.QueryRowContext(ctx, `SELECT min(message_id), count(*) FROM (SELECT message_id FROM message_search
			WHERE message_id < $1 ORDER BY message_id DESC LIMIT $2) w`, floor, window).Scan(&low, &inWindow); err != nil {
			return nil, fmt.Errorf("inbox search: window: %w", err)
		}
		if inWindow < window {
			return ids, nil // the window was everything
		}
		floor = low.Int64
		// Ids follow arrival, so floor is about how many messages are
		// left, and matches/window how many of them match. Collecting a
		// match costs the index several times what testing a row costs a
		// walk.
		if step > 0 || 4*float64(matches)/float64(window)*float64(floor) < float64(8*window) {
			break
		}
		window *= 8
	}
	// The rest: conversations whose newest match is below the window, by
	// that match. MATERIALIZED keeps the planner from walking the table in
	// id order again; OFFSET 0 keeps it from hashing every conversation to
	// join a few: the filters are looked up hit by hit, newest first, until
	// the page is full.
	a, add := with()
	q := `WITH hits AS MATERIALIZED (SELECT conversation_id, max(message_id) AS newest FROM message_search ms
			WHERE ` + hit("ms", add(match)) + ` GROUP BY conversation_id HAVING max(message_id) < ` + add(floor) + `)
		SELECT h.newest, v.id FROM (SELECT * FROM hits ORDER BY newest DESC) h CROSS JOIN LATERAL (SELECT c.id FROM conversations c` + join + `
			WHERE c.id = h.conversation_id` + strings.Join(append([]string{""}, where...), " AND ") + ` OFFSET 0) v
		ORDER BY h.newest DESC LIMIT ` + add(lim-len(ids))
	res, err := tx.QueryContext(ctx, q, *a...)
	if err != nil {
		return nil, fmt.Errorf("inbox search: %w", err)
	}
	more, err := collect(res, func(r rowScanner) (int64, error) {
		var newest, conv int64
		return conv, r.Scan(&newest, &conv)
	}, "inbox search")
	return append(ids, more...), err
}

// fillIdentities adds every contact's identities to the rows, in one query.
func fillIdentities(ctx context.Context, q queryer, rows []InboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]any, 0, len(rows))
	seen := map[int64]bool{}
	for _, r := range rows {
		if !seen[r.ContactID] {
			seen[r.ContactID] = true
			ids = append(ids, r.ContactID)
		}
	}
	res, err := q.QueryContext(ctx, `SELECT contact_id, kind, value, name FROM contact_identities WHERE contact_id IN (`+
		placeholders(1, len(ids))+`) ORDER BY created_at, kind, value`, ids...)
	if err != nil {
		return fmt.Errorf("inbox identities: %w", err)
	}
	defer res.Close()
	by := map[int64][]message.Party{}
	for res.Next() {
		var id int64
		var p message.Party
		if err := res.Scan(&id, &p.Kind, &p.Value, &p.Name); err != nil {
			return fmt.Errorf("inbox identities: %w", err)
		}
		by[id] = append(by[id], p)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("inbox identities: %w", err)
	}
	for i := range rows {
		rows[i].Identities = by[rows[i].ContactID]
		if rows[i].Identities == nil {
			rows[i].Identities = []message.Party{}
		}
	}
	return nil
}

// InboxConversation reads one conversation as the inbox shows it, with
// viewerID's read mark.
func (s *Store) InboxConversation(ctx context.Context, id, viewerID int64) (InboxRow, error) {
	var row InboxRow
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		row, err = scanInboxRow(tx.QueryRowContext(ctx, inboxSelect+
			` LEFT JOIN conversation_reads r ON r.user_id = $1 AND r.conversation_id = c.id WHERE c.id = $2`, viewerID, id))
		if err != nil {
			return notFound(err, fmt.Sprintf("conversation %d", id))
		}
		rows := []InboxRow{row}
		if err := fillIdentities(ctx, tx, rows); err != nil {
			return err
		}
		row = rows[0]
		return nil
	})
	return row, err
}

// HistoryItem is one entry of a contact's history: a message in, a reply
// out, or a ticket event (a note, an assignment, a status change…).
type HistoryItem struct {
	At             time.Time    `json:"at"`
	Kind           string       `json:"kind"` // in, out, event
	ConversationID int64        `json:"conversation_id"`
	Channel        message.Kind `json:"channel"`
	TicketRef      string       `json:"ticket_ref,omitempty"`
	Message        *Message     `json:"message,omitempty"`
	Outbound       *Outbound    `json:"outbound,omitempty"`
	Event          *TicketEvent `json:"event,omitempty"`
}

// maxHistory bounds a history page: the newest entries are kept.
const maxHistory = 300

// ContactHistory is everything that passed between us and a contact, on
// every channel and in every conversation, oldest first (the newest
// maxHistory entries).
func (s *Store) ContactHistory(ctx context.Context, contactID int64) ([]HistoryItem, error) {
	var items []HistoryItem
	err := s.readTx(ctx, func(q *sql.Tx) error {
		kinds := map[int64]message.Kind{}
		rows, err := q.QueryContext(ctx, `SELECT id, kind FROM channels`)
		if err != nil {
			return fmt.Errorf("history channels: %w", err)
		}
		for rows.Next() {
			var id int64
			var k message.Kind
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return fmt.Errorf("history channels: %w", err)
			}
			kinds[id] = k
		}
		rows.Close()
		rows, err = q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m
			JOIN conversations c ON c.id = m.conversation_id
			WHERE c.contact_id = $1 ORDER BY m.id DESC LIMIT $2`, contactID, maxHistory)
		if err != nil {
			return fmt.Errorf("history messages: %w", err)
		}
		msgs, err := collect(rows, func(r rowScanner) (HistoryItem, error) {
			m, err := scanMessage(r)
			at := m.ReceivedAt
			if at.IsZero() {
				at = m.CreatedAt
			}
			return HistoryItem{At: at, Kind: "in", ConversationID: m.ConversationID, Channel: kinds[m.ChannelID], Message: &m}, err
		}, "history messages")
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			ids := make([]any, len(msgs))
			byID := map[int64]*Message{}
			for i := range msgs {
				ids[i] = msgs[i].Message.ID
				byID[msgs[i].Message.ID] = msgs[i].Message
			}
			rows, err := q.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments a WHERE a.message_id IN (`+placeholders(1, len(ids))+`) ORDER BY a.id`, ids...)
			if err != nil {
				return fmt.Errorf("history attachments: %w", err)
			}
			atts, err := collect(rows, scanAttachment, "history attachments")
			if err != nil {
				return err
			}
			for _, a := range atts {
				byID[a.MessageID].Attachments = append(byID[a.MessageID].Attachments, a)
			}
		}
		items = append(items, msgs...)

		rows, err = q.QueryContext(ctx, `SELECT `+outboundCols+outboundFrom+` JOIN conversations c ON c.id = o.conversation_id
			WHERE c.contact_id = $1 ORDER BY o.id DESC LIMIT $2`, contactID, maxHistory)
		if err != nil {
			return fmt.Errorf("history outbound: %w", err)
		}
		outs, err := collect(rows, scanOutbound, "history outbound")
		if err != nil {
			return err
		}
		for i := range outs {
			o := outs[i]
			items = append(items, HistoryItem{At: o.CreatedAt, Kind: "out", ConversationID: o.ConversationID, Channel: o.Channel, Outbound: &o})
		}

		rows, err = q.QueryContext(ctx, `SELECT `+ticketEventCols+`, t.ref, t.conversation_id, ch.kind FROM ticket_events e
			JOIN tickets t ON t.id = e.ticket_id JOIN conversations c ON c.id = t.conversation_id JOIN channels ch ON ch.id = c.channel_id
			WHERE c.contact_id = $1 AND e.kind <> 'message' ORDER BY e.id DESC LIMIT $2`, contactID, maxHistory)
		if err != nil {
			return fmt.Errorf("history events: %w", err)
		}
		evs, err := collect(rows, func(r rowScanner) (HistoryItem, error) {
			var e TicketEvent
			var it HistoryItem
			err := r.Scan(&e.ID, &e.TicketID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Note, timeCol{&e.CreatedAt},
				&it.TicketRef, &it.ConversationID, &it.Channel)
			it.At, it.Kind, it.Event = e.CreatedAt, "event", &e
			return it, err
		}, "history events")
		items = append(items, evs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].At.Before(items[j].At) })
	if len(items) > maxHistory {
		items = items[len(items)-maxHistory:]
	}
	return items, nil
}

// ContactDetail is one customer with everything about them.
type ContactDetail struct {
	Contact
	MergedInto int64          `json:"merged_into,omitempty"`
	Tickets    []Ticket       `json:"tickets"`
	Notes      []ContactNote  `json:"notes"`
	Merges     []ContactMerge `json:"merges"`
}

// ContactNote is staff's note about a person.
type ContactNote struct {
	ID        int64     `json:"id"`
	ContactID int64     `json:"contact_id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// ContactMerge records that one contact was merged into another, and what
// moved, so it can be undone.
type ContactMerge struct {
	ID        int64      `json:"id"`
	KeptID    int64      `json:"kept_id"`
	MergedID  int64      `json:"merged_id"`
	Moved     MergeMoved `json:"moved"`
	Actor     string     `json:"actor"`
	CreatedAt time.Time  `json:"created_at"`
	UndoneAt  *time.Time `json:"undone_at,omitempty"`
	UndoneBy  string     `json:"undone_by,omitempty"`
}

// MergeMoved lists the rows a merge gave to the kept contact.
type MergeMoved struct {
	Identities    []message.Party `json:"identities"`
	Conversations []int64         `json:"conversations"`
	Tickets       []int64         `json:"tickets"`
	Outbound      []int64         `json:"outbound"`
	Messages      []int64         `json:"messages"`
}

// ContactDetail reads a contact, its tickets, notes and merges.
func (s *Store) ContactDetail(ctx context.Context, id int64) (ContactDetail, error) {
	var d ContactDetail
	err := s.readTx(ctx, func(q *sql.Tx) error {
		var err error
		if d.Contact, err = contactByID(ctx, q, id); err != nil {
			return err
		}
		if err := q.QueryRowContext(ctx, `SELECT COALESCE(merged_into, 0) FROM contacts WHERE id = $1`, id).Scan(&d.MergedInto); err != nil {
			return fmt.Errorf("contact %d: %w", id, err)
		}
		rows, err := q.QueryContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.contact_id = $1 ORDER BY t.id DESC LIMIT 200`, id)
		if err != nil {
			return fmt.Errorf("contact tickets: %w", err)
		}
		if d.Tickets, err = collect(rows, scanTicket, "contact tickets"); err != nil {
			return err
		}
		rows, err = q.QueryContext(ctx, `SELECT id, contact_id, author, body, created_at FROM contact_notes WHERE contact_id = $1 ORDER BY id`, id)
		if err != nil {
			return fmt.Errorf("contact notes: %w", err)
		}
		if d.Notes, err = collect(rows, func(r rowScanner) (ContactNote, error) {
			var n ContactNote
			return n, r.Scan(&n.ID, &n.ContactID, &n.Author, &n.Body, timeCol{&n.CreatedAt})
		}, "contact notes"); err != nil {
			return err
		}
		rows, err = q.QueryContext(ctx, `SELECT `+mergeCols+` FROM contact_merges WHERE kept_id = $1 OR merged_id = $1 ORDER BY id DESC`, id)
		if err != nil {
			return fmt.Errorf("contact merges: %w", err)
		}
		d.Merges, err = collect(rows, scanMerge, "contact merges")
		return err
	})
	if d.Tickets == nil {
		d.Tickets = []Ticket{}
	}
	if d.Notes == nil {
		d.Notes = []ContactNote{}
	}
	if d.Merges == nil {
		d.Merges = []ContactMerge{}
	}
	return d, err
}

const mergeCols = `id, kept_id, merged_id, moved, actor, created_at, undone_at, undone_by`

func scanMerge(r rowScanner) (ContactMerge, error) {
	var m ContactMerge
	var moved string
	err := r.Scan(&m.ID, &m.KeptID, &m.MergedID, &moved, &m.Actor, timeCol{&m.CreatedAt}, nullTimeCol{&m.UndoneAt}, &m.UndoneBy)
	if err == nil {
		err = json.Unmarshal([]byte(moved), &m.Moved)
	}
	return m, err
}

// AddContactNote records a note about a person.
func (tx *Tx) AddContactNote(ctx context.Context, n *ContactNote) error {
	if n.ContactID == 0 || strings.TrimSpace(n.Body) == "" {
		return errors.New("add contact note: contact and text are required")
	}
	n.CreatedAt = now()
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO contact_notes (contact_id, author, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		n.ContactID, n.Author, n.Body, tx.s.dbTime(n.CreatedAt)).Scan(&n.ID)
	if err != nil {
		return fmt.Errorf("add contact note: %w", err)
	}
	return nil
}

func (tx *Tx) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := tx.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := collect(rows, func(r rowScanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, "ids")
	if ids == nil {
		ids = []int64{}
	}
	return ids, err
}

// MergeContacts gives everything of contact mergeID (identities,
// conversations, tickets, replies, messages) to keepID and records what
// moved, so UndoMerge can give exactly that back.
func (tx *Tx) MergeContacts(ctx context.Context, keepID, mergeID int64, actor string) (ContactMerge, error) {
	if keepID == mergeID {
		return ContactMerge{}, errors.New("merge contacts: a contact cannot be merged into itself")
	}
	for _, id := range []int64{keepID, mergeID} {
		var into int64
		err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(merged_into, 0) FROM contacts WHERE id = $1`, id).Scan(&into)
		if err != nil {
			return ContactMerge{}, notFound(err, fmt.Sprintf("merge contacts: contact %d", id))
		}
		if into != 0 {
			return ContactMerge{}, fmt.Errorf("merge contacts: contact %d was merged into %d already: %w", id, into, ErrDuplicate)
		}
	}
	m := ContactMerge{KeptID: keepID, MergedID: mergeID, Actor: actor, CreatedAt: now()}
	var err error
	if m.Moved.Identities, err = contactIdentities(ctx, tx.tx, mergeID); err != nil {
		return ContactMerge{}, err
	}
	if m.Moved.Identities == nil {
		m.Moved.Identities = []message.Party{}
	}
	for _, x := range []struct {
		table string
		into  *[]int64
	}{{"conversations", &m.Moved.Conversations}, {"tickets", &m.Moved.Tickets}, {"outbound_messages", &m.Moved.Outbound}, {"messages", &m.Moved.Messages}} {
		if *x.into, err = tx.ids(ctx, `SELECT id FROM `+x.table+` WHERE contact_id = $1 ORDER BY id`, mergeID); err != nil {
			return ContactMerge{}, fmt.Errorf("merge contacts: %s: %w", x.table, err)
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE `+x.table+` SET contact_id = $1 WHERE contact_id = $2`, keepID, mergeID); err != nil {
			return ContactMerge{}, fmt.Errorf("merge contacts: %s: %w", x.table, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2`, keepID, mergeID); err != nil {
		return ContactMerge{}, fmt.Errorf("merge contacts: identities: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET merged_into = $1 WHERE id = $2`, keepID, mergeID); err != nil {
		return ContactMerge{}, fmt.Errorf("merge contacts: %w", err)
	}
	moved, err := json.Marshal(m.Moved)
	if err != nil {
		return ContactMerge{}, fmt.Errorf("merge contacts: %w", err)
	}
	err = tx.tx.QueryRowContext(ctx, `INSERT INTO contact_merges (kept_id, merged_id, moved, actor, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		keepID, mergeID, string(moved), actor, tx.s.dbTime(m.CreatedAt)).Scan(&m.ID)
	if err != nil {
		return ContactMerge{}, fmt.Errorf("merge contacts: record: %w", err)
	}
	return m, nil
}

// Merge reads one merge record.
func (s *Store) Merge(ctx context.Context, id int64) (ContactMerge, error) {
	m, err := scanMerge(s.db.QueryRowContext(ctx, `SELECT `+mergeCols+` FROM contact_merges WHERE id = $1`, id))
	if err != nil {
		return ContactMerge{}, notFound(err, fmt.Sprintf("merge %d", id))
	}
	return m, nil
}

// UndoMerge gives the merged contact back what the merge moved (rows that
// still belong to the kept contact; anything merged in later stays).
func (tx *Tx) UndoMerge(ctx context.Context, mergeID int64, actor string) (ContactMerge, error) {
	m, err := scanMerge(tx.tx.QueryRowContext(ctx, `SELECT `+mergeCols+` FROM contact_merges WHERE id = $1`, mergeID))
	if err != nil {
		return ContactMerge{}, notFound(err, fmt.Sprintf("undo merge %d", mergeID))
	}
	if m.UndoneAt != nil {
		return ContactMerge{}, fmt.Errorf("undo merge %d: already undone: %w", mergeID, ErrDuplicate)
	}
	for _, x := range []struct {
		table string
		ids   []int64
	}{{"conversations", m.Moved.Conversations}, {"tickets", m.Moved.Tickets}, {"outbound_messages", m.Moved.Outbound}, {"messages", m.Moved.Messages}} {
		for _, id := range x.ids {
			if _, err := tx.tx.ExecContext(ctx, `UPDATE `+x.table+` SET contact_id = $1 WHERE id = $2 AND contact_id = $3`, m.MergedID, id, m.KeptID); err != nil {
				return ContactMerge{}, fmt.Errorf("undo merge %d: %s: %w", mergeID, x.table, err)
			}
		}
	}
	for _, p := range m.Moved.Identities {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE contact_identities SET contact_id = $1 WHERE kind = $2 AND value = $3 AND contact_id = $4`,
			m.MergedID, string(p.Kind), p.Value, m.KeptID); err != nil {
			return ContactMerge{}, fmt.Errorf("undo merge %d: identities: %w", mergeID, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET merged_into = NULL WHERE id = $1`, m.MergedID); err != nil {
		return ContactMerge{}, fmt.Errorf("undo merge %d: %w", mergeID, err)
	}
	at := now()
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contact_merges SET undone_at = $1, undone_by = $2 WHERE id = $3`, tx.s.dbTime(at), actor, mergeID); err != nil {
		return ContactMerge{}, fmt.Errorf("undo merge %d: %w", mergeID, err)
	}
	m.UndoneAt, m.UndoneBy = &at, actor
	return m, nil
}

// SetAssignee assigns a conversation to a user (0: to nobody).
func (tx *Tx) SetAssignee(ctx context.Context, conversationID, userID int64) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE conversations SET assignee_id = $1 WHERE id = $2`, nullID(userID), conversationID)
	return affectedOne(res, err, fmt.Sprintf("assign conversation %d", conversationID))
}

// SetSnooze hides a conversation until until (nil: shows it again).
func (tx *Tx) SetSnooze(ctx context.Context, conversationID int64, until *time.Time) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE conversations SET snoozed_until = $1, reminded_at = NULL WHERE id = $2`,
		tx.s.dbTimePtr(until), conversationID)
	return affectedOne(res, err, fmt.Sprintf("snooze conversation %d", conversationID))
}

// WakeConversation brings a snoozed conversation back at the top of the
// list with a reminder mark, if it is still snoozed until exactly until (a
// customer message or a new snooze in between makes this a no-op).
func (s *Store) WakeConversation(ctx context.Context, conversationID int64, until time.Time) (bool, error) {
	var woke bool
	err := s.InTx(ctx, func(tx *Tx) error {
		at := s.dbTime(now())
		res, err := tx.tx.ExecContext(ctx, `UPDATE conversations SET snoozed_until = NULL, reminded_at = $1,
			last_message_at = CASE WHEN last_message_at < $1 THEN $1 ELSE last_message_at END
			WHERE id = $2 AND snoozed_until = $3`, at, conversationID, s.dbTime(until))
		if err != nil {
			return fmt.Errorf("wake conversation %d: %w", conversationID, err)
		}
		n, err := res.RowsAffected()
		woke = n == 1
		return err
	})
	return woke, err
}

// MarkRead records that a user has seen a conversation up to now, and
// clears its reminder mark.
func (s *Store) MarkRead(ctx context.Context, userID, conversationID int64) error {
	return s.InTx(ctx, func(tx *Tx) error {
		at := s.dbTime(now())
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO conversation_reads (user_id, conversation_id, read_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = excluded.read_at`, userID, conversationID, at); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		_, err := tx.tx.ExecContext(ctx, `UPDATE conversations SET reminded_at = NULL WHERE id = $1 AND reminded_at IS NOT NULL`, conversationID)
		return err
	})
}

// LatestTicket is the conversation's newest ticket, closed or not.
func (tx *Tx) LatestTicket(ctx context.Context, conversationID int64) (Ticket, bool, error) {
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t
		WHERE t.conversation_id = $1 ORDER BY t.id DESC LIMIT 1`, conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("latest ticket of conversation %d: %w", conversationID, err)
	}
	return t, true, nil
}

// SetTicketOutcome records how a ticket ended.
func (tx *Tx) SetTicketOutcome(ctx context.Context, ticketID int64, outcome, reason string) error {
	if outcome != OutcomeDone && outcome != OutcomeNotDone {
		return fmt.Errorf("set outcome of ticket %d: %q: want done or not_done", ticketID, outcome)
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET outcome = $1, outcome_reason = $2 WHERE id = $3`, outcome, reason, ticketID)
	return affectedOne(res, err, fmt.Sprintf("set outcome of ticket %d", ticketID))
}

// TicketOutcome reads how a ticket ended ("" while open).
func (s *Store) TicketOutcome(ctx context.Context, ticketID int64) (outcome, reason string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT outcome, outcome_reason FROM tickets WHERE id = $1`, ticketID).Scan(&outcome, &reason)
	if err != nil {
		return "", "", notFound(err, fmt.Sprintf("ticket %d", ticketID))
	}
	return outcome, reason, nil
}

// RequeueOutbound puts a failed reply back in the queue; the caller
// inserts the send job in the same transaction. Only failed or
// undelivered replies can be retried.
func (tx *Tx) RequeueOutbound(ctx context.Context, id int64) (Outbound, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE outbound_messages SET state = 'queued', error = '', updated_at = $1
		WHERE id = $2 AND state IN ('failed', 'undelivered')`, tx.s.dbTime(now()), id)
	if err := affectedOne(res, err, fmt.Sprintf("requeue outbound %d", id)); err != nil {
		return Outbound{}, err
	}
	return outboundByID(ctx, tx.tx, id)
}

// OutboundTx reads one reply inside a transaction.
func (tx *Tx) Outbound(ctx context.Context, id int64) (Outbound, error) {
	return outboundByID(ctx, tx.tx, id)
}

// ConversationTx reads a conversation inside a transaction.
func (tx *Tx) Conversation(ctx context.Context, id int64) (Conversation, error) {
	c, err := scanConversation(tx.tx.QueryRowContext(ctx, `SELECT `+conversationCols+` FROM conversations c WHERE c.id = $1`, id))
	if err != nil {
		return Conversation{}, notFound(err, fmt.Sprintf("conversation %d", id))
	}
	return c, nil
}

// LastInbound is the newest inbound message of a conversation: what a
// staff reply answers (its sender, its Message-ID for threading).
func (tx *Tx) LastInbound(ctx context.Context, conversationID int64) (Message, bool, error) {
	m, err := scanMessage(tx.tx.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m
		WHERE m.conversation_id = $1 AND m.quarantined = FALSE ORDER BY m.id DESC LIMIT 1`, conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("last inbound of conversation %d: %w", conversationID, err)
	}
	return m, true, nil
}

// ContactTx reads a contact inside a transaction.
func (tx *Tx) Contact(ctx context.Context, id int64) (Contact, error) {
	return contactByID(ctx, tx.tx, id)
}

// ChannelTx reads a channel inside a transaction.
func (tx *Tx) Channel(ctx context.Context, id int64) (Channel, error) {
	c, err := scanChannel(tx.tx.QueryRowContext(ctx, `SELECT `+channelCols+` FROM channels ch WHERE ch.id = $1`, id))
	if err != nil {
		return Channel{}, notFound(err, fmt.Sprintf("channel %d", id))
	}
	return c, nil
}

// Attachment reads one attachment with the conversation it belongs to.
func (s *Store) Attachment(ctx context.Context, id int64) (Attachment, int64, error) {
	a, err := scanAttachment(s.db.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments a WHERE a.id = $1`, id))
	if err != nil {
		return Attachment{}, 0, notFound(err, fmt.Sprintf("attachment %d", id))
	}
	var conv int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(conversation_id, 0) FROM messages WHERE id = $1`, a.MessageID).Scan(&conv); err != nil {
		return Attachment{}, 0, notFound(err, fmt.Sprintf("message of attachment %d", id))
	}
	return a, conv, nil
}
