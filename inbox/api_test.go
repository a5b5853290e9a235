package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/riverqueue/river"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

const testToken = "s3cret-token"

// seeded is what seedStore wrote, for tests to ask about.
type seeded struct {
	openConv, closedConv int64
	htmlMessage          int64
	openTicket           int64
	closedTicket         int64
}

// hostileMail is customer HTML the API must never hand out as written.
const hostileMail = "From: Alice <alice@example.edu.sa>\r\nMessage-ID: <hostile@example.edu.sa>\r\nSubject: Projector\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n\r\n" +
	`<p>Projector <b>broken</b></p><script>alert(1)</script>` +
	`<a href="https://example.edu.sa/form" onclick="steal()">form</a><img src=x onerror="alert(2)">` +
	`<img src="https://tracker.example.com/open.gif?who=staff">`

// ingested parses raw as the email channel does at ingest.
func ingested(t *testing.T, raw string) message.Inbound {
	t.Helper()
	in := email.Parse([]byte(raw), email.ParseOptions{ChannelID: 1})
	if in.Quarantined {
		t.Fatalf("test mail quarantined: %s", in.QuarantineReason)
	}
	return in
}

// TestMain removes the migrated template newStore copies.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// newStore opens a real SQLite store: a copy of one migrated once per test
// binary (dbtest), checked up to date.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dbtest.SQLiteDir(t, store.MigrateAt), testLogger(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// testLogger writes to the test's output, shown only when it fails or
// with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// seedStore writes two contacts, an open conversation (with a hostile HTML
// message, an open ticket and replies in several states), a closed
// conversation (with a closed ticket) and a quarantined message.
func seedStore(t *testing.T, st *store.Store) seeded {
	t.Helper()
	ctx := context.Background()
	ch := store.Channel{Name: "support-email", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(ctx, &ch); err != nil {
		t.Fatalf("channel: %v", err)
	}
	var s seeded
	at := time.Date(2026, 11, 8, 6, 0, 0, 0, time.UTC)
	err := st.InTx(ctx, func(tx *store.Tx) error {
		alice, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: "alice@example.edu.sa", Name: "Alice"})
		if err != nil {
			return err
		}
		bob, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityPhone, Value: "+966500000001"})
		if err != nil {
			return err
		}
		open := store.Conversation{ContactID: alice.ID, ChannelID: ch.ID, Subject: "Projector", CreatedAt: at}
		if err := tx.CreateConversation(ctx, &open); err != nil {
			return err
		}
		closed := store.Conversation{ContactID: bob.ID, ChannelID: ch.ID, Subject: "Old", Status: store.ConversationClosed, CreatedAt: at.Add(-time.Hour)}
		if err := tx.CreateConversation(ctx, &closed); err != nil {
			return err
		}
		s.openConv, s.closedConv = open.ID, closed.ID

		m := store.Message{ChannelID: ch.ID, ExternalID: "imap/1", ConversationID: open.ID, ContactID: alice.ID,
			From: alice.Identities[0], To: []string{"support@example.edu.sa"}, Subject: "Projector",
			Text: "Projector broken", HTML: ingested(t, hostileMail).HTML, SentAt: at, ReceivedAt: at}
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return err
		}
		s.htmlMessage = m.ID
		old := store.Message{ChannelID: ch.ID, ExternalID: "imap/0", ConversationID: closed.ID, ContactID: bob.ID,
			From: bob.Identities[0], Text: "old question", SentAt: at.Add(-time.Hour), ReceivedAt: at.Add(-time.Hour)}
		if err := tx.InsertMessage(ctx, &old); err != nil {
			return err
		}
		bad := store.Message{ChannelID: ch.ID, ExternalID: "imap/2", Quarantined: true,
			QuarantineReason: "not an email: malformed MIME header", ReceivedAt: at}
		if err := tx.InsertMessage(ctx, &bad); err != nil {
			return err
		}

		tk := store.Ticket{Prefix: "EDU", Year: 2026, Number: 1, ConversationID: open.ID, ContactID: alice.ID,
			Topic: "equipment_maintenance", Department: "maintenance_center", Subject: "Projector"}
		if err := tx.CreateTicket(ctx, &tk); err != nil {
			return err
		}
		done := store.Ticket{Prefix: "EDU", Year: 2026, Number: 2, ConversationID: closed.ID, ContactID: bob.ID,
			Status: store.TicketClosed, Subject: "Old"}
		if err := tx.CreateTicket(ctx, &done); err != nil {
			return err
		}
		s.openTicket, s.closedTicket = tk.ID, done.ID

		for i, state := range []message.DeliveryState{message.StateQueued, message.StateSent, message.StateSent, message.StateFailed} {
			o := store.Outbound{ChannelID: ch.ID, ConversationID: open.ID, ContactID: alice.ID, To: alice.Identities[0],
				Text: "reply", HeaderMessageID: "wasl." + strconv.Itoa(i) + "@example.edu.sa", Auto: true, State: state}
			if err := tx.InsertOutbound(ctx, &o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return s
}

// get sends one request to h and returns the status and body.
func get(t testing.TB, h http.Handler, path, auth string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header(), body
}

func newAPI(t testing.TB, st *store.Store, token string) *API {
	t.Helper()
	auth, err := NewAuth(st, AuthConfig{APIToken: token}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return NewAPI(st, auth, NewService(st, jobs, bank, ServiceConfig{}, testLogger(t)), testLogger(t))
}

func newMux(api *API) *http.ServeMux {
	mux := http.NewServeMux()
	api.Register(mux)
	return mux
}

func TestAPIAuth(t *testing.T) {
	st := newStore(t)
	s := seedStore(t, st)
	routes := []string{
		"/api/v1/conversations",
		"/api/v1/conversations/" + strconv.FormatInt(s.openConv, 10),
		"/api/v1/tickets",
		"/api/v1/tickets/" + strconv.FormatInt(s.openTicket, 10),
	}
	tests := []struct {
		name     string
		apiToken string // the gateway's configured token
		auth     string // the request's Authorization header
		want     int
	}{
		{"no header", testToken, "", http.StatusUnauthorized},
		{"wrong token", testToken, "Bearer wrong", http.StatusUnauthorized},
		{"token prefix only", testToken, "Bearer " + testToken[:4], http.StatusUnauthorized},
		{"token with suffix", testToken, "Bearer " + testToken + "x", http.StatusUnauthorized},
		{"not a bearer", testToken, "Basic " + testToken, http.StatusUnauthorized},
		{"bare token", testToken, testToken, http.StatusUnauthorized},
		{"empty API token, empty bearer", "", "Bearer ", http.StatusUnauthorized},
		{"empty API token, some bearer", "", "Bearer " + testToken, http.StatusUnauthorized},
		{"right token", testToken, "Bearer " + testToken, http.StatusOK},
	}
	for _, tt := range tests {
		mux := newMux(newAPI(t, st, tt.apiToken))
		for _, route := range routes {
			t.Run(tt.name+" "+route, func(t *testing.T) {
				code, hdr, body := get(t, mux, route, tt.auth)
				if code != tt.want {
					t.Fatalf("status %d, want %d; body %s", code, tt.want, body)
				}
				if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				if tt.want == http.StatusUnauthorized {
					if got := hdr.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
					}
					var e struct {
						Error struct{ Code, Message string }
					}
					if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unauthorized" || e.Error.Message == "" {
						t.Errorf("401 body %s is not a JSON error", body)
					}
				}
			})
		}
	}
}

func TestAPIReads(t *testing.T) {
	st := newStore(t)
	s := seedStore(t, st)
	mux := newMux(newAPI(t, st, testToken))
	auth := "Bearer " + testToken
	id := func(n int64) string { return strconv.FormatInt(n, 10) }

	t.Run("conversations", func(t *testing.T) {
		tests := []struct {
			query string
			want  []int64
		}{
			{"", []int64{s.openConv, s.closedConv}}, // newest activity first
			{"?status=open", []int64{s.openConv}},
			{"?status=closed", []int64{s.closedConv}},
			{"?limit=1", []int64{s.openConv}},
			{"?limit=1&before=" + id(s.openConv), []int64{s.closedConv}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				code, _, body := get(t, mux, "/api/v1/conversations"+tt.query, auth)
				if code != http.StatusOK {
					t.Fatalf("status %d: %s", code, body)
				}
				var resp struct {
					Conversations []store.ConversationSummary `json:"conversations"`
				}
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, c := range resp.Conversations {
					got = append(got, c.ID)
				}
				if !equalIDs(got, tt.want) {
					t.Errorf("ids %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("conversation detail serves the HTML sanitized at ingest", func(t *testing.T) {
		code, _, body := get(t, mux, "/api/v1/conversations/"+id(s.openConv), auth)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var d store.ConversationDetail
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Conversation.ID != s.openConv || d.Contact.DisplayName != "Alice" || d.Channel.Name != "support-email" {
			t.Errorf("detail = conversation %d, contact %q, channel %q", d.Conversation.ID, d.Contact.DisplayName, d.Channel.Name)
		}
		if len(d.Messages) != 1 || d.Messages[0].ID != s.htmlMessage {
			t.Fatalf("messages %+v, want just %d", d.Messages, s.htmlMessage)
		}
		// The email channel sanitized it once, at ingest; the API serves
		// what is stored, unchanged, and does no work per read.
		stored, err := st.Message(context.Background(), s.htmlMessage)
		if err != nil || d.Messages[0].HTML != stored.HTML {
			t.Fatalf("API HTML %q differs from the stored %q (err %v)", d.Messages[0].HTML, stored.HTML, err)
		}
		html := d.Messages[0].HTML
		for _, bad := range []string{"<script", "alert(", "onclick", "onerror", "steal()", "tracker.example.com"} {
			if strings.Contains(strings.ToLower(html), bad) {
				t.Errorf("served HTML contains %q: %s", bad, html)
			}
		}
		for _, good := range []string{"<b>broken</b>", `href="https://example.edu.sa/form"`, `target="_blank"`, "noreferrer", ">form</a>"} {
			if !strings.Contains(html, good) {
				t.Errorf("sanitized HTML lost %q: %s", good, html)
			}
		}
		if len(d.Tickets) != 1 || d.Tickets[0].ID != s.openTicket || len(d.Outbound) != 4 {
			t.Errorf("tickets %+v, outbound %d", d.Tickets, len(d.Outbound))
		}
	})

	t.Run("tickets", func(t *testing.T) {
		tests := []struct {
			query string
			want  []int64
		}{
			{"", []int64{s.closedTicket, s.openTicket}}, // newest first
			{"?status=open", []int64{s.openTicket}},
			{"?status=closed", []int64{s.closedTicket}},
			{"?status=pending", nil},
			{"?department=maintenance_center", []int64{s.openTicket}},
			{"?limit=1", []int64{s.closedTicket}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				code, _, body := get(t, mux, "/api/v1/tickets"+tt.query, auth)
				if code != http.StatusOK {
					t.Fatalf("status %d: %s", code, body)
				}
				var resp struct {
					Tickets []store.Ticket `json:"tickets"`
				}
				if err := json.Unmarshal(body, &resp); err != nil {
					t.Fatal(err)
				}
				if resp.Tickets == nil {
					t.Errorf("tickets is null, want a list: %s", body)
				}
				var got []int64
				for _, tk := range resp.Tickets {
					got = append(got, tk.ID)
				}
				if !equalIDs(got, tt.want) {
					t.Errorf("ids %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("ticket detail", func(t *testing.T) {
		code, _, body := get(t, mux, "/api/v1/tickets/"+id(s.openTicket), auth)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		var resp struct {
			Ticket store.Ticket        `json:"ticket"`
			Events []store.TicketEvent `json:"events"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Ticket.Ref != "EDU-2026-000001" || len(resp.Events) != 1 || resp.Events[0].Kind != store.EventCreated {
			t.Errorf("ticket %q with events %+v", resp.Ticket.Ref, resp.Events)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			path string
			want int
		}{
			{"/api/v1/conversations/999999", http.StatusNotFound},
			{"/api/v1/tickets/999999", http.StatusNotFound},
			{"/api/v1/conversations/abc", http.StatusBadRequest},
			{"/api/v1/conversations/0", http.StatusBadRequest},
			{"/api/v1/conversations/-1", http.StatusBadRequest},
			{"/api/v1/conversations/99999999999999999999", http.StatusBadRequest},
			{"/api/v1/conversations/1?limit=0", http.StatusBadRequest},
			{"/api/v1/conversations/1?before=x", http.StatusBadRequest},
			{"/api/v1/tickets/x1", http.StatusBadRequest},
			{"/api/v1/tickets/0", http.StatusBadRequest},
			{"/api/v1/conversations?limit=0", http.StatusBadRequest},
			{"/api/v1/conversations?limit=501", http.StatusBadRequest},
			{"/api/v1/conversations?limit=ten", http.StatusBadRequest},
			{"/api/v1/conversations?before=-1", http.StatusBadRequest},
			{"/api/v1/conversations?status=pending", http.StatusBadRequest},
			{"/api/v1/tickets?limit=-5", http.StatusBadRequest},
			{"/api/v1/tickets?limit=1000", http.StatusBadRequest},
			{"/api/v1/tickets?status=nope", http.StatusBadRequest},
		}
		for _, tt := range tests {
			t.Run(tt.path, func(t *testing.T) {
				code, _, body := get(t, mux, tt.path, auth)
				if code != tt.want {
					t.Fatalf("status %d, want %d: %s", code, tt.want, body)
				}
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("body %s is not a JSON error {code, message}", body)
				}
			})
		}
	})
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Health needs no token; readiness follows the database.
func TestHealthAndReadiness(t *testing.T) {
	// Readiness only pings, so this store needs no migrations.
	st, err := store.Open(context.Background(), "", t.TempDir(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := newMux(newAPI(t, st, testToken))

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := get(t, mux, path, ""); code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, code, body)
		}
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get(t, mux, "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz after close: status %d: %s", code, body)
	}
	code, _, body := get(t, mux, "/readyz", "")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after close: status %d, want 503: %s", code, body)
	}
	// A store failure is a 500 whose body tells nothing about the database.
	code, _, body = get(t, mux, "/api/v1/conversations", "Bearer "+testToken)
	if code != http.StatusInternalServerError || strings.TrimSpace(string(body)) != `{"error":{"code":"internal","message":"internal error"}}` {
		t.Errorf("API after close: status %d, body %s; want 500 internal error", code, body)
	}
}

// seedThread stores a conversation of n messages a minute apart, each with
// a reply five seconds after it, and returns the conversation and message
// ids, oldest first.
func seedThread(t testing.TB, st *store.Store, n int, html func(i int) message.Inbound) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	ch := store.Channel{Name: "support-email", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	var conv int64
	var ids []int64
	at := time.Date(2026, 11, 8, 6, 0, 0, 0, time.UTC)
	err := st.InTx(ctx, func(tx *store.Tx) error {
		c, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: "alice@example.edu.sa"})
		if err != nil {
			return err
		}
		cv := store.Conversation{ContactID: c.ID, ChannelID: ch.ID, CreatedAt: at}
		if err := tx.CreateConversation(ctx, &cv); err != nil {
			return err
		}
		conv = cv.ID
		for i := range n {
			in := html(i)
			m := store.Message{ChannelID: ch.ID, ExternalID: strconv.Itoa(i), ConversationID: conv, ContactID: c.ID,
				From: c.Identities[0], Text: in.Text, HTML: in.HTML, TextTruncated: in.TextTruncated, HTMLTruncated: in.HTMLTruncated,
				CreatedAt: at.Add(time.Duration(i) * time.Minute)}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			ids = append(ids, m.ID)
			o := store.Outbound{ChannelID: ch.ID, ConversationID: conv, ContactID: c.ID, To: c.Identities[0], Text: "reply",
				HeaderMessageID: "wasl.r" + strconv.Itoa(i) + "@example.edu.sa", Auto: true, State: message.StateSent,
				CreatedAt: m.CreatedAt.Add(5 * time.Second)}
			if err := tx.InsertOutbound(ctx, &o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return conv, ids
}

func TestAPIConversationPages(t *testing.T) {
	st := newStore(t)
	conv, ids := seedThread(t, st, 5, func(i int) message.Inbound { return message.Inbound{Text: "message " + strconv.Itoa(i)} })
	mux := newMux(newAPI(t, st, testToken))
	path := "/api/v1/conversations/" + strconv.FormatInt(conv, 10)

	type page struct {
		Messages []store.Message  `json:"messages"`
		Outbound []store.Outbound `json:"outbound"`
		Next     *int64           `json:"next_before"`
	}
	getPage := func(query string) page {
		t.Helper()
		code, _, body := get(t, mux, path+query, "Bearer "+testToken)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", query, code, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	msgIDs := func(p page) []int64 {
		var out []int64
		for _, m := range p.Messages {
			out = append(out, m.ID)
		}
		return out
	}
	// Newest page first, oldest first within it; each page has the replies
	// written in its time.
	p := getPage("?limit=2")
	if !equalIDs(msgIDs(p), ids[3:]) || p.Next == nil || *p.Next != ids[3] || len(p.Outbound) != 2 {
		t.Fatalf("first page: messages %v, next %v, %d replies; want %v, %d, 2", msgIDs(p), p.Next, len(p.Outbound), ids[3:], ids[3])
	}
	p = getPage("?limit=2&before=" + strconv.FormatInt(*p.Next, 10))
	if !equalIDs(msgIDs(p), ids[1:3]) || p.Next == nil || *p.Next != ids[1] || len(p.Outbound) != 2 {
		t.Fatalf("second page: messages %v, next %v, %d replies", msgIDs(p), p.Next, len(p.Outbound))
	}
	p = getPage("?limit=2&before=" + strconv.FormatInt(*p.Next, 10))
	if !equalIDs(msgIDs(p), ids[:1]) || p.Next != nil || len(p.Outbound) != 1 {
		t.Fatalf("last page: messages %v, next %v, %d replies", msgIDs(p), p.Next, len(p.Outbound))
	}
	if p := getPage(""); len(p.Messages) != 5 || p.Next != nil {
		t.Errorf("default page: %d messages, next %v; want all 5 (limit 50)", len(p.Messages), p.Next)
	}
	if code, _, body := get(t, mux, path+"?before=999999", "Bearer "+testToken); code != http.StatusNotFound {
		t.Errorf("before a message of another conversation: status %d: %s", code, body)
	}
}

// bigHTMLMail is the 16 MB newsletter that made one read of its
// conversation take 2 s and return 31 MB, when the API sanitized on read.
func bigHTMLMail() string {
	var b strings.Builder
	b.WriteString("From: News <news@example.com>\r\nMessage-ID: <news-1@example.com>\r\nSubject: newsletter\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<table>")
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, `<tr><td style="color:#333">row %d</td><td><a href="https://example.com/item/%d">item %d</a></td></tr>`+"\n", i, i, i)
	}
	b.WriteString("</table>")
	return b.String()
}

func TestAPILargeHTMLMail(t *testing.T) {
	st := newStore(t)
	in := ingested(t, bigHTMLMail())
	conv, _ := seedThread(t, st, 1, func(int) message.Inbound { return in })
	mux := newMux(newAPI(t, st, testToken))
	code, _, body := get(t, mux, "/api/v1/conversations/"+strconv.FormatInt(conv, 10), "Bearer "+testToken)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if len(body) > 4<<20 {
		t.Errorf("response is %d bytes; the stored bodies are capped at 1 MiB each", len(body))
	}
	var d struct {
		Messages []struct {
			HTML          string `json:"html"`
			TextTruncated bool   `json:"text_truncated"`
			HTMLTruncated bool   `json:"html_truncated"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Messages) != 1 || !d.Messages[0].HTMLTruncated || !d.Messages[0].TextTruncated || len(d.Messages[0].HTML) > 1<<20 {
		t.Errorf("message: %d bytes of HTML, truncated text %v, html %v", len(d.Messages[0].HTML), d.Messages[0].TextTruncated, d.Messages[0].HTMLTruncated)
	}
}

// BenchmarkAPIConversationLargeHTML is one read of the conversation that
// holds the 16 MB HTML mail.
func BenchmarkAPIConversationLargeHTML(b *testing.B) {
	st, err := store.Open(context.Background(), "", b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	in := email.Parse([]byte(bigHTMLMail()), email.ParseOptions{ChannelID: 1})
	conv, _ := seedThread(b, st, 1, func(int) message.Inbound { return in })
	mux := newMux(newAPI(b, st, testToken))
	path := "/api/v1/conversations/" + strconv.FormatInt(conv, 10)
	for b.Loop() {
		if code, _, _ := get(b, mux, path, "Bearer "+testToken); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}
