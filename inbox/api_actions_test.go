package inbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/store"
)

func do(t *testing.T, h http.Handler, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return rec.Code, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// The actions of the web inbox, through the API: a reply is a queued
// outbound row with its send job; notes, assignment, transfer, status and
// close are ticket events by the caller; an agent of another department
// gets 403 on the conversation, reading or writing; errors say what and
// carry the right status.
func TestAPIActions(t *testing.T) {
	st := newStore(t)
	s := seedStore(t, st)
	api := newAPI(t, st, testToken)
	mux := newMux(api)
	hash, _ := HashPassword("agent password 123")
	var agents = map[string]store.User{}
	for _, u := range []store.User{
		{Email: "maint@uni.example", Name: "Maint", Role: store.RoleAgent, Departments: []string{"maintenance_center"}},
		{Email: "class@uni.example", Name: "Class", Role: store.RoleAgent, Departments: []string{"classrooms"}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := st.CreateUser(t.Context(), &u); err != nil {
			t.Fatal(err)
		}
		agents[u.Email] = u
	}
	token := func(email string) string {
		tok, _, err := api.authn.NewAPIToken(t.Context(), agents[email].ID, "test")
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	maint, class := token("maint@uni.example"), token("class@uni.example")
	conv := "/api/v1/conversations/" + strconv.FormatInt(s.openConv, 10)
	jobs := func() int { return count(t, st, `SELECT count(*) FROM river_job WHERE kind = 'send_outbound'`) }

	// The other department's agent: 403 everywhere on it.
	for _, tt := range []struct{ method, path, body string }{
		{"GET", conv, ""},
		{"GET", conv + "/history", ""},
		{"POST", conv + "/messages", `{"body":"hi"}`},
		{"POST", conv + "/notes", `{"body":"x"}`},
		{"POST", conv + "/close", `{"outcome":"done"}`},
		{"GET", "/api/v1/tickets/" + strconv.FormatInt(s.openTicket, 10), ""},
		{"GET", "/api/v1/tickets", ""},
		{"GET", "/api/v1/users", ""},
	} {
		if code, v := do(t, mux, tt.method, tt.path, class, tt.body); code != http.StatusForbidden || errCode(v) != "forbidden" {
			t.Errorf("classrooms agent %s %s: %d %v, want 403", tt.method, tt.path, code, v)
		}
	}
	code, v := do(t, mux, "GET", "/api/v1/conversations", class, "")
	if list, _ := v["conversations"].([]any); code != http.StatusOK || len(list) != 1 { // only the conversation without a department
		t.Errorf("classrooms agent's list: %d %v", code, v)
	}

	// The department's own agent works it.
	before := jobs()
	code, v = do(t, mux, "POST", conv+"/messages", maint, `{"body":"We will send a technician today."}`)
	out, _ := v["outbound"].(map[string]any)
	if code != http.StatusCreated || out["state"] != "queued" || out["auto"] != false || !strings.HasPrefix(out["subject"].(string), "Re: [#EDU-2026-000001] ") {
		t.Fatalf("reply: %d %v", code, v)
	}
	if jobs() != before+1 {
		t.Errorf("send jobs %d → %d, want one more", before, jobs())
	}
	for _, tt := range []struct {
		path, body string
		want       int
		code       string
	}{
		{conv + "/messages", `{"body":"  "}`, 400, "invalid"},
		{conv + "/messages", `{"text":"typo"}`, 400, "invalid"},
		{conv + "/notes", `{"body":"called the customer"}`, 201, ""},
		{conv + "/assign", `{"user_id":` + strconv.FormatInt(agents["maint@uni.example"].ID, 10) + `}`, 200, ""},
		{conv + "/assign", `{"user_id":99999}`, 400, "invalid"},
		{conv + "/status", `{"status":"in_progress"}`, 200, ""},
		{conv + "/status", `{"status":"in_progress"}`, 409, "conflict"},
		{conv + "/status", `{"status":"closed"}`, 400, "invalid"},
		{conv + "/transfer", `{"department":"nowhere"}`, 400, "invalid"},
		{conv + "/close", `{"outcome":"not_done"}`, 400, "invalid"},
		{conv + "/snooze", `{"until":"2001-01-01T00:00:00Z"}`, 400, "invalid"},
		{conv + "/close", `{"outcome":"not_done","reason":"item unavailable"}`, 200, ""},
		{conv + "/close", `{"outcome":"done"}`, 409, "conflict"},
		{"/api/v1/conversations/99999/notes", `{"body":"x"}`, 404, "not_found"},
	} {
		code, v := do(t, mux, "POST", tt.path, maint, tt.body)
		if code != tt.want || errCode(v) != tt.code {
			t.Errorf("POST %s %s: %d %v, want %d %q", tt.path, tt.body, code, v, tt.want, tt.code)
		}
	}
	_, events, err := st.Ticket(t.Context(), s.openTicket)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		if e.Actor == "maint@uni.example" {
			kinds = append(kinds, e.Kind+":"+e.ToStatus)
		}
	}
	if got := strings.Join(kinds, " "); got != "reply: note: assign: status:in_progress status:closed" {
		t.Errorf("events by the agent: %s", got)
	}
	if o, r, _ := st.TicketOutcome(t.Context(), s.openTicket); o != store.OutcomeNotDone || r != "item unavailable" {
		t.Errorf("outcome %q %q", o, r)
	}
	// Once transferred away, the maintenance agent loses it too.
	if code, v := do(t, mux, "POST", conv+"/status", "Bearer "+testToken, `{"status":"open"}`); code != 200 {
		t.Fatalf("reopen: %d %v", code, v)
	}
	if code, v := do(t, mux, "POST", conv+"/transfer", "Bearer "+testToken, `{"department":"classrooms","note":"theirs"}`); code != 200 {
		t.Fatalf("transfer: %d %v", code, v)
	}
	if code, _ := do(t, mux, "GET", conv, maint, ""); code != http.StatusForbidden {
		t.Errorf("after the transfer the maintenance agent still opens it: %d", code)
	}
	if code, _ := do(t, mux, "GET", conv, class, ""); code != http.StatusOK {
		t.Errorf("after the transfer the classrooms agent cannot open it: %d", code)
	}
	// A failed reply can be sent again, once; one that went out cannot.
	var failed, sent int64
	_ = st.DB().QueryRow(`SELECT id FROM outbound_messages WHERE state = 'failed' LIMIT 1`).Scan(&failed)
	_ = st.DB().QueryRow(`SELECT id FROM outbound_messages WHERE state = 'sent' LIMIT 1`).Scan(&sent)
	before = jobs()
	code, v = do(t, mux, "POST", "/api/v1/outbound/"+strconv.FormatInt(failed, 10)+"/retry", class, "")
	if o, _ := v["outbound"].(map[string]any); code != http.StatusOK || o["state"] != "queued" || o["error"] != nil || jobs() != before+1 {
		t.Errorf("retry: %d %v (jobs %d → %d)", code, v, before, jobs())
	}
	if code, v := do(t, mux, "POST", "/api/v1/outbound/"+strconv.FormatInt(sent, 10)+"/retry", class, ""); code != http.StatusConflict {
		t.Errorf("retry of a sent reply: %d %v, want 409", code, v)
	}
	// Merge the two contacts and undo it.
	alice, bob := "1", "2"
	code, v = do(t, mux, "POST", "/api/v1/contacts/"+alice+"/merge", "Bearer "+testToken, `{"other_id":`+bob+`}`)
	mg, _ := v["merge"].(map[string]any)
	if code != http.StatusCreated || mg["merged_id"] != float64(2) {
		t.Fatalf("merge: %d %v", code, v)
	}
	code, v = do(t, mux, "GET", "/api/v1/contacts/"+alice, "Bearer "+testToken, "")
	if c := v["contact"].(map[string]any); code != 200 || len(c["identities"].([]any)) != 2 {
		t.Errorf("after merge: %d %v", code, v)
	}
	undo := "/api/v1/merges/" + strconv.FormatFloat(mg["id"].(float64), 'f', 0, 64) + "/undo"
	if code, v := do(t, mux, "POST", undo, "Bearer "+testToken, ""); code != 200 {
		t.Errorf("undo: %d %v", code, v)
	}
	if code, v := do(t, mux, "POST", undo, "Bearer "+testToken, ""); code != http.StatusConflict {
		t.Errorf("second undo: %d %v", code, v)
	}
	if code, _ := do(t, mux, "POST", "/api/v1/contacts/"+alice+"/merge", "Bearer "+testToken, `{"other_id":`+alice+`}`); code != http.StatusBadRequest {
		t.Errorf("self merge: %d", code)
	}

	// Personal tokens.
	code, v = do(t, mux, "POST", "/api/v1/me/tokens", maint, `{"name":"ci"}`)
	if tok, _ := v["token"].(string); code != http.StatusCreated || !strings.HasPrefix(tok, "wasl_pat_") {
		t.Errorf("new token: %d %v", code, v)
	}
	if code, v := do(t, mux, "GET", "/api/v1/me", maint, ""); code != 200 || v["user"].(map[string]any)["email"] != "maint@uni.example" {
		t.Errorf("me: %d %v", code, v)
	}
}
