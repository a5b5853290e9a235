package inbox

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
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

// hostileHTML is customer HTML the API must never hand out as is.
const hostileHTML = `<p>Projector <b>broken</b></p><script>alert(1)</script>` +
	`<a href="https://example.edu.sa/form" onclick="steal()">form</a><img src=x onerror="alert(2)">`

// newStore opens a real SQLite store in a temporary directory and migrates
// it.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "", t.TempDir(), testLogger(t))
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
func testLogger(t *testing.T) *slog.Logger {
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
			Text: "Projector broken", HTML: hostileHTML, SentAt: at, ReceivedAt: at}
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
func get(t *testing.T, h http.Handler, path, auth string) (int, http.Header, []byte) {
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
		mux := newMux(NewAPI(st, tt.apiToken, testLogger(t)))
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
					var e struct{ Error string }
					if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
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
	mux := newMux(NewAPI(st, testToken, testLogger(t)))
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

	t.Run("conversation detail sanitizes HTML", func(t *testing.T) {
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
		// The store keeps what the customer sent; the API cleans it.
		raw, err := st.Message(context.Background(), s.htmlMessage)
		if err != nil || !strings.Contains(raw.HTML, "<script>") {
			t.Fatalf("stored HTML %q (err %v) should be the hostile original", raw.HTML, err)
		}
		html := d.Messages[0].HTML
		for _, bad := range []string{"<script", "alert(", "onclick", "onerror", "steal()"} {
			if strings.Contains(strings.ToLower(html), bad) {
				t.Errorf("sanitized HTML still contains %q: %s", bad, html)
			}
		}
		// Sanitizing must keep what is harmless.
		for _, good := range []string{"<b>broken</b>", `href="https://example.edu.sa/form"`, ">form</a>"} {
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
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("body %s is not a JSON error", body)
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
	mux := newMux(NewAPI(st, testToken, testLogger(t)))

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
	if code != http.StatusInternalServerError || strings.TrimSpace(string(body)) != `{"error":"internal error"}` {
		t.Errorf("API after close: status %d, body %s; want 500 internal error", code, body)
	}
}
