package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// stubGateway stands in for the running binary, which the e2e browser
// test drives for real: every channel builds, and a test connection passes
// with the right IMAP password only, failing with the text a server gives.
type stubGateway struct{ changed int }

func (g *stubGateway) CheckChannel(context.Context, config.Channel) error { return nil }
func (g *stubGateway) TestChannel(_ context.Context, ch config.Channel) []inbox.TestStep {
	if ch.IMAP.Password != "right-imap-pw" {
		return []inbox.TestStep{{Step: "imap", Error: "NO [AUTHENTICATIONFAILED] Authentication failed."}}
	}
	return []inbox.TestStep{{Step: "imap", OK: true, Detail: ch.IMAP.Addr}, {Step: "smtp", OK: true}}
}
func (g *stubGateway) ChannelsChanged() { g.changed++ }
func (g *stubGateway) WebhookURLs(name string) (string, string) {
	return "https://wasl.example/webhooks/twilio/" + name, "https://wasl.example/webhooks/twilio/" + name + "/status"
}
func (g *stubGateway) ReloadBank(context.Context) (*replies.Bank, error) { return nil, nil }
func (g *stubGateway) Preview(context.Context, message.Inbound) (router.Preview, error) {
	return router.Preview{}, nil
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, http.Header, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func emailForm(name, imapPW string) url.Values {
	return url.Values{"kind": {"email"}, "name": {name}, "enabled": {"1"},
		"imap_host": {"127.0.0.1"}, "imap_port": {"1143"}, "imap_security": {"plain"}, "imap_username": {"support"},
		"imap_password": {imapPW}, "imap_mailboxes": {"INBOX, Support"}, "imap_poll": {"5m"}, "first_sync": {"since"}, "first_sync_date": {"2026-09-01"},
		"smtp_host": {"127.0.0.1"}, "smtp_port": {"2525"}, "smtp_security": {"none"}, "smtp_from": {"support@uni.example"}}
}

// TestOperatorPages: an operator adds an email channel through the form,
// tests its connection (the server's error shown on failure), sees the
// password never again, only "set"; the file's channels are read-only; a
// WhatsApp device's page shows its QR code, then its number; the audit log
// lists it all; an agent gets 403 on every operator page and action.
func TestOperatorPages(t *testing.T) {
	w := newWorld(t)
	op := w.client(t, "op@uni.example")
	agent := w.client(t, "class@uni.example")
	base := w.srv.URL

	code, _, body := get(t, op, base+"/operator/channels")
	if code != http.StatusOK || !strings.Contains(body, "from configuration") || !strings.Contains(body, `href="/operator/channels/new?kind=email"`) {
		t.Fatalf("channels page: %d\n%s", code, body)
	}
	if code, _, body = get(t, op, base+"/operator/channels/new?kind=email"); code != http.StatusOK || !strings.Contains(body, `name="imap_password"`) {
		t.Fatalf("new email form: %d\n%s", code, body)
	}

	// Test connection: the server's own error, then success.
	f := emailForm("help-desk", "wrong")
	f.Set("op", "test")
	if code, _, body = post(t, op, base+"/operator/channels", f); code != http.StatusOK || !strings.Contains(body, "AUTHENTICATIONFAILED") || strings.Contains(body, `value="wrong"`) {
		t.Errorf("test with a wrong password: %d\n%s", code, body)
	}
	f = emailForm("help-desk", "right-imap-pw")
	f.Set("op", "test")
	if _, _, body = post(t, op, base+"/operator/channels", f); !strings.Contains(body, `data-step="smtp" data-ok="true"`) || strings.Contains(body, "right-imap-pw") {
		t.Errorf("test with the right password:\n%s", body)
	}
	if n, _ := w.st.Channels(context.Background()); len(n) != 2 {
		t.Errorf("a test stored a channel: %d channels", len(n))
	}

	// Save: to the channel's page, which never shows the password.
	code, hdr, _ := post(t, op, base+"/operator/channels", emailForm("help-desk", "right-imap-pw"))
	m := regexp.MustCompile(`^/operator/channels/(\d+)$`).FindStringSubmatch(hdr.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("save: %d %s", code, hdr.Get("Location"))
	}
	page := base + hdr.Get("Location")
	if _, _, body = get(t, op, page); strings.Contains(body, "right-imap-pw") || !strings.Contains(body, "set — leave blank to keep") ||
		!strings.Contains(body, `value="INBOX, Support"`) || !strings.Contains(body, `value="5m"`) || !strings.Contains(body, `value="2026-09-01"`) {
		t.Errorf("channel page:\n%s", body)
	}
	// A test from the saved channel uses the stored password.
	f = emailForm("help-desk", "")
	f.Set("op", "test")
	if _, _, body = post(t, op, page, f); !strings.Contains(body, `data-step="imap" data-ok="true"`) {
		t.Errorf("test with the stored password:\n%s", body)
	}
	// A name taken shows on the form.
	if code, _, body = post(t, op, base+"/operator/channels", emailForm("email", "x")); code != http.StatusBadRequest || !strings.Contains(body, "exists already") {
		t.Errorf("duplicate name: %d", code)
	}
	if code, hdr, _ = post(t, op, page+"/disable", url.Values{"back": {"list"}}); code != http.StatusSeeOther || hdr.Get("Location") != "/operator/channels" {
		t.Errorf("disable: %d %s", code, hdr.Get("Location"))
	}
	if _, _, body = get(t, op, base+"/operator/channels/"+itoa(w.email.ID)); strings.Contains(body, `name="imap_host"`) || !strings.Contains(body, "change it there") {
		t.Errorf("the file's channel has a form:\n%s", body)
	}

	// WhatsApp: the QR code its connector reports, then the linked number.
	code, hdr, _ = post(t, op, base+"/operator/channels", url.Values{"kind": {"whatsapp"}, "name": {"wa"}, "enabled": {"1"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add whatsapp: %d", code)
	}
	wa := base + hdr.Get("Location")
	waID, _ := pathIDOf(hdr.Get("Location"))
	put := func(status string) {
		if err := w.st.PutChannelStatus(context.Background(), store.ChannelStatus{ChannelID: waID, Replica: "r1", Status: []byte(status)}); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"state":"pairing","whatsapp":{"qr_code":"2@abcdef,ghijkl,mnop"}}`)
	if _, _, body = get(t, op, wa); !strings.Contains(body, "/qr.svg") || !strings.Contains(body, "waiting for the scan") || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("pairing page:\n%s", body)
	}
	code, hdr, body = get(t, op, wa+"/qr.svg")
	if code != http.StatusOK || hdr.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("qr: %d %s %.60s", code, hdr.Get("Content-Type"), body)
	}
	put(`{"state":"connected","whatsapp":{"phone":"+966501112233"}}`)
	if _, _, body = get(t, op, wa); strings.Contains(body, "/qr.svg") || !strings.Contains(body, "966501112233") {
		t.Errorf("paired page:\n%s", body)
	}
	if code, _, _ = post(t, op, wa+"/logout", nil); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}

	if _, _, body = get(t, op, base+"/operator/audit"); !strings.Contains(body, "channel.create") || !strings.Contains(body, "channel.disable") || !strings.Contains(body, "channel.logout") ||
		strings.Contains(body, "right-imap-pw") {
		t.Errorf("audit page:\n%s", body)
	}

	// Agents: 403 on every page and action, in their language.
	for _, path := range []string{"/operator/", "/operator/channels", "/operator/channels/new", page, page + "/delete", wa + "/qr.svg", "/operator/audit"} {
		path = strings.TrimPrefix(path, base)
		if code, _, body := get(t, agent, base+path); code != http.StatusForbidden || !strings.Contains(body, `dir="rtl"`) {
			t.Errorf("agent GET %s: %d", path, code)
		}
	}
	for _, path := range []string{"/operator/channels", page, page + "/enable", page + "/disable", page + "/delete", wa + "/pair", wa + "/logout"} {
		path = strings.TrimPrefix(path, base)
		if code, _, _ := post(t, agent, base+path, emailForm("sneaky", "x")); code != http.StatusForbidden {
			t.Errorf("agent POST %s: %d", path, code)
		}
	}
	if _, err := w.st.ChannelByName(context.Background(), "sneaky"); err == nil {
		t.Error("an agent added a channel")
	}

	// Delete asks first, then keeps the history.
	if _, _, body = get(t, op, page+"/delete"); !strings.Contains(body, "conversations and messages stay") {
		t.Errorf("delete confirmation:\n%s", body)
	}
	if code, hdr, _ = post(t, op, page+"/delete", nil); code != http.StatusSeeOther || hdr.Get("Location") != "/operator/channels" {
		t.Errorf("delete: %d", code)
	}
	if _, _, body = get(t, op, base+"/operator/channels"); strings.Contains(body, "help-desk") {
		t.Errorf("deleted channel listed:\n%s", body)
	}
}

func pathIDOf(loc string) (int64, bool) {
	var id int64
	for _, c := range strings.TrimPrefix(loc, "/operator/channels/") {
		if c < '0' || c > '9' {
			return 0, false
		}
		id = id*10 + int64(c-'0')
	}
	return id, id > 0
}

// TestOperatorUsers: an operator adds an account (its generated password
// shown once works), changes its role and departments, resets its password
// (the old one stops working, its sessions end), ends its sessions,
// disables and enables it; all audited; an agent may do none of it.
func TestOperatorUsers(t *testing.T) {
	w := newWorld(t)
	op := w.client(t, "op@uni.example")
	agent := w.client(t, "class@uni.example")
	base := w.srv.URL
	ctx := context.Background()
	pwRe := regexp.MustCompile(`<code dir="ltr" class="op-password">([^<]+)</code>`)

	code, _, body := post(t, op, base+"/operator/users", url.Values{"email": {"Noura@Uni.example"}, "name": {"نورة"}, "role": {"agent"},
		"language": {"ar"}, "department": {"classrooms", "maintenance_center"}})
	m := pwRe.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("add user: %d\n%s", code, body)
	}
	pw := htmlUnescape(m[1])
	u, err := w.st.UserByEmail(ctx, "noura@uni.example")
	if err != nil || u.Role != store.RoleAgent || strings.Join(u.Departments, ",") != "classrooms,maintenance_center" {
		t.Fatalf("added %+v %v", u, err)
	}
	tok, _, err := w.auth.SignIn(ctx, u.Email, pw, "127.0.0.1", "test", "")
	if err != nil {
		t.Fatalf("sign in with the generated password: %v", err)
	}
	if _, _, body = get(t, op, base+"/operator/users"); strings.Contains(body, pw) {
		t.Error("the password shows again")
	}
	if code, _, _ = post(t, op, base+"/operator/users", url.Values{"email": {"noura@uni.example"}, "name": {"x"}, "role": {"agent"}}); code != http.StatusBadRequest {
		t.Errorf("duplicate account: %d", code)
	}
	if code, _, _ = post(t, op, base+"/operator/users/"+itoa(u.ID), url.Values{"name": {"نورة"}, "role": {"operator"}, "language": {"en"}, "department": {"classrooms"}}); code != http.StatusSeeOther {
		t.Errorf("update: %d", code)
	}
	if u, _ = w.st.UserByID(ctx, u.ID); u.Role != store.RoleOperator || u.Language != "en" || strings.Join(u.Departments, ",") != "classrooms" {
		t.Errorf("after update: %+v", u)
	}
	session := &http.Client{Jar: &cookieJar{tok: tok}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if code, _, _ := get(t, session, base+"/"); code != http.StatusOK {
		t.Fatalf("the new user's session: %d", code)
	}
	if code, _, _ = post(t, op, base+"/operator/users/"+itoa(u.ID)+"/sessions", nil); code != http.StatusSeeOther {
		t.Errorf("revoke: %d", code)
	}
	if code, hdr, _ := get(t, session, base+"/"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Errorf("a revoked session: %d", code)
	}
	_, _, body = post(t, op, base+"/operator/users/"+itoa(u.ID)+"/password", nil)
	m = pwRe.FindStringSubmatch(body)
	if m == nil || htmlUnescape(m[1]) == pw {
		t.Fatalf("reset password:\n%s", body)
	}
	if _, _, err := w.auth.SignIn(ctx, u.Email, pw, "127.0.0.1", "test", ""); err == nil {
		t.Error("the old password still works")
	}
	if _, _, err := w.auth.SignIn(ctx, u.Email, htmlUnescape(m[1]), "127.0.0.1", "test", ""); err != nil {
		t.Errorf("the new password: %v", err)
	}
	post(t, op, base+"/operator/users/"+itoa(u.ID)+"/disable", nil)
	if u, _ = w.st.UserByID(ctx, u.ID); u.Active {
		t.Error("still active")
	}
	post(t, op, base+"/operator/users/"+itoa(u.ID)+"/enable", nil)
	if u, _ = w.st.UserByID(ctx, u.ID); !u.Active {
		t.Error("not enabled again")
	}
	// An operator cannot lock themselves out.
	me, _ := w.st.UserByEmail(ctx, "op@uni.example")
	if code, _, _ = post(t, op, base+"/operator/users/"+itoa(me.ID)+"/disable", nil); code != http.StatusBadRequest {
		t.Errorf("disabling oneself: %d", code)
	}

	for _, path := range []string{"/operator/users", "/operator/users/" + itoa(u.ID), "/operator/users/" + itoa(u.ID) + "/disable", "/operator/users/" + itoa(u.ID) + "/password", "/operator/users/" + itoa(u.ID) + "/sessions"} {
		if code, _, _ := post(t, agent, base+path, url.Values{"email": {"x@uni.example"}, "name": {"x"}, "role": {"operator"}}); code != http.StatusForbidden {
			t.Errorf("agent POST %s: %d", path, code)
		}
	}
	if code, _, _ := get(t, agent, base+"/operator/users"); code != http.StatusForbidden {
		t.Errorf("agent GET users: %d", code)
	}
	// Departments: the head is one of its members.
	if code, _, _ = post(t, op, base+"/operator/departments/classrooms/head", url.Values{"head": {itoa(u.ID)}}); code != http.StatusSeeOther {
		t.Errorf("set head: %d", code)
	}
	if code, _, _ = post(t, op, base+"/operator/departments/maintenance_center/head", url.Values{"head": {itoa(u.ID)}}); code != http.StatusBadRequest {
		t.Errorf("a head from outside the department: %d", code)
	}
	if heads, _ := w.st.DepartmentHeads(ctx); heads["classrooms"] != u.ID || heads["maintenance_center"] != 0 {
		t.Errorf("heads %v", heads)
	}
	if _, _, body = get(t, op, base+"/operator/departments"); !strings.Contains(body, `data-department="classrooms"`) || !strings.Contains(body, "noura@uni.example") {
		t.Errorf("departments page:\n%s", body)
	}
	if code, _, _ := get(t, agent, base+"/operator/departments"); code != http.StatusForbidden {
		t.Errorf("agent GET departments: %d", code)
	}
	_, _, body = get(t, op, base+"/operator/audit?kind=user")
	for _, a := range []string{"user.create", "user.update", "user.sessions_revoked", "user.password_reset", "user.disable", "user.enable"} {
		if !strings.Contains(body, a) {
			t.Errorf("audit lacks %s", a)
		}
	}
}
