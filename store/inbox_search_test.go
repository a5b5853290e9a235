package store

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/wasl-dev/wasl/message"
)

// searchWorld is conversations whose messages arrive interleaved, so that a
// conversation's last activity and its newest match differ.
type searchWorld struct {
	email, sms Channel
	conv       map[string]int64
	name       map[int64]string
	agent      User
}

// searchEvent is one message: conversation name, text.
type searchEvent struct{ conv, text string }

func buildSearch(t *testing.T, s *Store, events []searchEvent) *searchWorld {
	t.Helper()
	ctx := t.Context()
	s.SetSearchNormalizer(arabicFold)
	w := &searchWorld{conv: map[string]int64{}, name: map[int64]string{}}
	w.email = Channel{Name: "email", Kind: message.Email, Enabled: true}
	w.sms = Channel{Name: "sms", Kind: message.SMS, Enabled: true}
	for _, c := range []*Channel{&w.email, &w.sms} {
		if err := s.UpsertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	w.agent = newUser(t, s, "agent@uni.example", RoleAgent, "classrooms")
	t0 := now().Add(-24 * time.Hour)
	var names []string // of conversations, in order of appearance
	for _, e := range events {
		if !slices.Contains(names, e.conv) {
			names = append(names, e.conv)
		}
	}
	mustTx(t, s, func(tx *Tx) error {
		for i, e := range events {
			at := t0.Add(time.Duration(i) * time.Second)
			id, ok := w.conv[e.conv]
			// The name says the conversation's channel, language and
			// department: "sms-ar-classrooms-1".
			parts := strings.Split(e.conv, "-")
			ch := w.email
			from := message.Party{Kind: message.IdentityEmail, Value: e.conv + "@example.com"}
			if parts[0] == "sms" {
				ch = w.sms
				from = message.Party{Kind: message.IdentityPhone, Value: fmt.Sprintf("+96655%07d", slices.Index(names, e.conv))}
			}
			c, err := tx.FindOrCreateContact(ctx, from)
			if err != nil {
				return err
			}
			if !ok {
				conv := Conversation{ContactID: c.ID, ChannelID: ch.ID, LastMessageAt: at, CreatedAt: at}
				if err := tx.CreateConversation(ctx, &conv); err != nil {
					return err
				}
				id = conv.ID
				w.conv[e.conv], w.name[id] = id, e.conv
				if parts[2] != "none" {
					n, err := tx.NextTicketNumber(ctx, "EDU", 2026)
					if err != nil {
						return err
					}
					tk := Ticket{Prefix: "EDU", Year: 2026, Number: n, ConversationID: id, ContactID: c.ID, Department: parts[2]}
					if err := tx.CreateTicket(ctx, &tk); err != nil {
						return err
					}
				}
			}
			m := Message{ChannelID: ch.ID, ExternalID: fmt.Sprintf("e%d", i), ConversationID: id, ContactID: c.ID, From: from,
				Text: e.text, Language: parts[1], Scope: "in", CreatedAt: at}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			if err := tx.TouchConversation(ctx, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	return w
}

func (w *searchWorld) names(rows []InboxRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, w.name[r.ID])
	}
	return out
}

// pages follows BeforeID from page to page, limit rows at a time, and
// returns every row in order.
func pages(t *testing.T, s *Store, f InboxFilter, limit int) []InboxRow {
	t.Helper()
	var all []InboxRow
	f.Limit = limit
	for range 100 {
		rows, err := s.InboxList(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		if len(rows) < limit {
			return all
		}
		f.BeforeID = rows[len(rows)-1].ID
	}
	t.Fatal("paging does not end")
	return nil
}

func TestInboxSearchOrderAndFilters(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		w := buildSearch(t, s, []searchEvent{
			{"email-en-classrooms-1", "the projector in room 12 is broken"},
			{"sms-ar-classrooms-2", "نحتاج أجهزة عرض في القاعة"},
			{"email-en-none-3", "which projector can we borrow"},
			{"sms-ar-maintenance-4", "القاعه الكبيرة لا تعمل"},
			{"email-en-maintenance-5", "projectors for the conference"},
			{"sms-ar-none-6", "شكرا، القاعة جاهزة"},
			// Newest activity, but no new match: a search places it by its
			// match, the list by this message.
			{"email-en-classrooms-1", "thank you"},
			{"sms-ar-classrooms-2", "شكرا لكم"},
		})
		op := InboxFilter{All: true}
		agent := InboxFilter{ViewerID: w.agent.ID, Departments: w.agent.Departments}
		tests := []struct {
			name string
			f    InboxFilter
			want []string
		}{
			{"list: newest activity first", op,
				[]string{"sms-ar-classrooms-2", "email-en-classrooms-1", "sms-ar-none-6", "email-en-maintenance-5", "sms-ar-maintenance-4", "email-en-none-3"}},
			{"search: newest match first", withFilter(op, func(f *InboxFilter) { f.Query = "projector" }),
				[]string{"email-en-maintenance-5", "email-en-none-3", "email-en-classrooms-1"}},
			{"search Arabic, hamza and taa marbuta", withFilter(op, func(f *InboxFilter) { f.Query = "القاعة" }),
				[]string{"sms-ar-none-6", "sms-ar-maintenance-4", "sms-ar-classrooms-2"}},
			{"search two words in one message", withFilter(op, func(f *InboxFilter) { f.Query = "أجهزة القاعة" }),
				[]string{"sms-ar-classrooms-2"}},
			{"search words of two messages of one conversation", withFilter(op, func(f *InboxFilter) { f.Query = "projector thank" }),
				[]string{}},
			{"search and channel", withFilter(op, func(f *InboxFilter) { f.Query = "projector"; f.Channel = message.SMS }),
				[]string{}},
			{"search and language", withFilter(op, func(f *InboxFilter) { f.Query = "القاعة"; f.Language = "ar"; f.Channel = message.SMS }),
				[]string{"sms-ar-none-6", "sms-ar-maintenance-4", "sms-ar-classrooms-2"}},
			{"search and department", withFilter(op, func(f *InboxFilter) { f.Query = "projector"; f.Department = "maintenance" }),
				[]string{"email-en-maintenance-5"}},
			{"search as an agent", withFilter(agent, func(f *InboxFilter) { f.Query = "projector" }),
				[]string{"email-en-none-3", "email-en-classrooms-1"}},
			{"search and limit", withFilter(op, func(f *InboxFilter) { f.Query = "القاعة"; f.Limit = 2 }),
				[]string{"sms-ar-none-6", "sms-ar-maintenance-4"}},
			{"search, page after", withFilter(op, func(f *InboxFilter) { f.Query = "القاعة"; f.BeforeID = w.conv["sms-ar-maintenance-4"] }),
				[]string{"sms-ar-classrooms-2"}},
			{"search, page after a conversation that does not match", withFilter(op, func(f *InboxFilter) { f.Query = "القاعة"; f.BeforeID = w.conv["email-en-none-3"] }),
				[]string{}},
		}
		for _, tt := range tests {
			rows, err := s.InboxList(t.Context(), tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := w.names(rows); !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}

func withFilter(f InboxFilter, change func(*InboxFilter)) InboxFilter {
	change(&f)
	return f
}

// A conversation with more matching messages than a step of the search
// reads, and more than PostgreSQL's first window, must not hide the ones
// after it; pages of any size add up to the whole list, each conversation
// once, by newest match.
func TestInboxSearchPaging(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		var events []searchEvent
		var want []string // by newest match, newest first
		for i := range 12 {
			name := fmt.Sprintf("email-en-none-%d", i)
			events = append(events, searchEvent{name, fmt.Sprintf("the projector number %d", i)})
			if i%3 == 0 {
				events = append(events, searchEvent{fmt.Sprintf("sms-en-none-%d", i), "nothing to see"})
			}
		}
		for i := range 260 {
			events = append(events, searchEvent{"email-en-none-chatty", fmt.Sprintf("projector again %d", i)})
		}
		// Older conversations write again: their newest match is now
		// newer than the chatty one's.
		events = append(events, searchEvent{"email-en-none-3", "projector still broken"}, searchEvent{"email-en-none-7", "and a projector screen"})
		// Then many messages that do not match: on PostgreSQL the newest
		// window of a small page holds no match, and the index is asked.
		for i := range 120 {
			events = append(events, searchEvent{"sms-en-none-noise", fmt.Sprintf("nothing %d", i)})
		}
		want = append(want, "email-en-none-7", "email-en-none-3", "email-en-none-chatty")
		for i := 11; i >= 0; i-- {
			if i != 3 && i != 7 {
				want = append(want, fmt.Sprintf("email-en-none-%d", i))
			}
		}
		w := buildSearch(t, s, events)
		agent := InboxFilter{ViewerID: w.agent.ID, Departments: w.agent.Departments}
		for _, tt := range []struct {
			name   string
			f      InboxFilter
			limits []int
		}{
			{"everything", InboxFilter{All: true}, []int{1, 2, 3, 5, 50}},
			{"email", InboxFilter{All: true, Channel: message.Email}, []int{1, 4}},
			{"agent", agent, []int{2, 7}},
		} {
			for _, limit := range tt.limits {
				f := tt.f
				f.Query = "projector"
				got := w.names(pages(t, s, f, limit))
				if !slices.Equal(got, want) {
					t.Errorf("%s, pages of %d: %v, want %v", tt.name, limit, got, want)
				}
			}
		}
		// A filter that leaves none of the matches.
		if got := w.names(pages(t, s, InboxFilter{All: true, Channel: message.SMS, Query: "projector"}, 1)); len(got) != 0 {
			t.Errorf("sms: %v", got)
		}
		// A filter that leaves few of the matches: every step of the walk
		// finds little.
		got := w.names(pages(t, s, InboxFilter{All: true, Query: "projector number 1"}, 1))
		if want := []string{"email-en-none-11", "email-en-none-10", "email-en-none-1"}; !slices.Equal(got, want) {
			t.Errorf("prefix 1: %v, want %v", got, want)
		}
	})
}

// A term is also the start of a word; with more words to it than the store
// expands, the prefix itself is searched.
func TestInboxSearchPrefixes(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		var events []searchEvent
		for i := range maxExpansion + 8 {
			events = append(events, searchEvent{fmt.Sprintf("email-en-none-%d", i), fmt.Sprintf("code zeta%03d", i)})
		}
		w := buildSearch(t, s, events)
		for _, tt := range []struct {
			query string
			n     int
		}{
			{"zeta", maxExpansion + 8}, // more words than maxExpansion
			{"zeta01", 10},             // zeta010 … zeta019
			{"zeta039", 1},
			{"zeta0390", 0},
			{"cod", maxExpansion + 8},
		} {
			rows, err := s.InboxList(t.Context(), InboxFilter{All: true, Query: tt.query, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.n {
				t.Errorf("%q: %d conversations, want %d (%v)", tt.query, len(rows), tt.n, w.names(rows))
			}
		}
	})
}

// Words indexed before search_terms existed are found by their prefix once
// the migration has filled it.
func TestSearchTermsMigration(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		w := buildSearch(t, s, []searchEvent{{"email-en-none-1", "when are grades published"}})
		p := migrationProvider(t, s)
		if _, err := p.DownTo(ctx, 22); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		rows, err := s.InboxList(ctx, InboxFilter{All: true, Query: "publ"})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.names(rows); !slices.Equal(got, []string{"email-en-none-1"}) {
			t.Errorf("after the migration: %v", got)
		}
		if s.dialect == SQLite {
			if n := count(t, s, `SELECT count(*) FROM search_terms WHERE term = 'published'`); n != 1 {
				t.Errorf("search_terms has published %d times", n)
			}
		}
	})
}

func migrationProvider(t *testing.T, s *Store) *goose.Provider {
	t.Helper()
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if s.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, s.db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A transaction whose messages hold more text than one statement of the
// SQLite index takes (maxSearchFlush) has every message found.
func TestInboxSearchLargeTransaction(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		var events []searchEvent
		for i := range 30 {
			// Distinct words, since each is indexed once a message: 30
			// messages of 1,400 words hold about 1.6 maxSearchFlush.
			var b strings.Builder
			fmt.Fprintf(&b, "marker%03d", i)
			for j := range 1400 {
				fmt.Fprintf(&b, " f%02dx%04d", i, j)
			}
			events = append(events, searchEvent{fmt.Sprintf("email-en-none-%d", i), b.String()})
		}
		w := buildSearch(t, s, events)
		for _, i := range []int{0, 14, 29} {
			rows, err := s.InboxList(t.Context(), InboxFilter{All: true, Query: fmt.Sprintf("marker%03d", i), Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.names(rows); len(got) != 1 || got[0] != events[i].conv {
				t.Errorf("marker%03d: %v, want %s", i, got, events[i].conv)
			}
		}
	})
}

// A word is indexed once a message however often it occurs, and a message
// is still found by every word it holds, quoted tail included.
func TestInboxSearchIndexesWordsOnce(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		quoted := strings.Repeat("> the projector in hall B is broken again\n", 200)
		w := buildSearch(t, s, []searchEvent{
			{"email-en-none-1", "Any news?\n\nOn Monday you wrote:\n" + quoted + "> signed Zainab"},
			{"email-en-none-2", "the projector works now"},
		})
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"projector hall", []string{"email-en-none-1"}},
			{"zainab", []string{"email-en-none-1"}},
			{"news broken", []string{"email-en-none-1"}},
			{"projector", []string{"email-en-none-2", "email-en-none-1"}},
			{"works broken", []string{}},
		} {
			rows, err := s.InboxList(ctx, InboxFilter{All: true, Query: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.names(rows); !slices.Equal(got, tt.want) {
				t.Errorf("%q: %v, want %v", tt.query, got, tt.want)
			}
		}
		// How many times the index holds "projector" across both messages:
		// on PostgreSQL, as a lexeme of each message's tsvector and at no
		// position (a position each occurrence would be 201 in the first).
		var n int
		if s.dialect == Postgres {
			n = count(t, s, `SELECT count(*) FROM message_search, unnest(doc) WHERE lexeme = 'projector' AND COALESCE(array_length(positions, 1), 0) = 0`)
		} else {
			conn, err := s.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, message_search, 'row')`); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRowContext(ctx, `SELECT cnt FROM temp.vocab WHERE term = 'projector'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if n != 2 {
			t.Errorf("the index holds projector %d times, want once a message (2)", n)
		}
	})
}

// TestInboxSearchLongWords: a word longer than PostgreSQL's longest lexeme
// (a base64 line, a run of Arabic letters) is kept by its start on both
// sides, the index and the query, so the message is stored and found; so
// is a vocabulary beyond a tsvector's megabyte, by its first terms.
func TestInboxSearchLongWords(t *testing.T) {
	long := strings.Repeat("ب", 1500) // 3000 bytes
	var vocab strings.Builder
	for i := 0; vocab.Len() < 1<<20+1<<16; i++ {
		fmt.Fprintf(&vocab, "w%07d ", i)
	}
	each(t, func(t *testing.T, s *Store) {
		w := buildSearch(t, s, []searchEvent{
			{"email-ar-none-1", "مرحبا " + long + " x" + strings.Repeat("9", 4000)},
			{"email-en-none-2", "first " + vocab.String() + " last"},
		})
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"مرحبا", []string{"email-ar-none-1"}},
			{long, []string{"email-ar-none-1"}},
			{long + "ب", []string{"email-ar-none-1"}}, // longer still: the same start
			{"x" + strings.Repeat("9", 3000), []string{"email-ar-none-1"}},
			{"first w0000001", []string{"email-en-none-2"}},
		} {
			rows, err := s.InboxList(t.Context(), InboxFilter{All: true, Query: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.names(rows); !slices.Equal(got, tt.want) {
				t.Errorf("%.20q: %v, want %v", tt.query, got, tt.want)
			}
		}
	})
}
