package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/internal/dovecot"
)

// apiBody GETs path with the token and returns the raw response body.
func (g *gateway) apiBody(path string) []byte {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET %s: %s %v: %.200s", path, resp.Status, err, g.redact(string(body)))
	}
	g.checkBody("GET "+path, body)
	return body
}

// TestEmailLargeHTML sends the gateway the 16 MB HTML newsletter that made
// one read of its conversation take 2 s and return 31 MB while the API
// sanitized on every read. Sanitized and capped once at ingest, it is a
// small response, says it was cut, and carries no tracking pixel.
func TestEmailLargeHTML(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("From: News <news@example.com>\r\nTo: support@example.test\r\nSubject: newsletter\r\n" +
		"Message-ID: <news-16mb@example.com>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<img src="https://tracker.example.com/open.gif?rcpt=support" width="1" height="1"><script>alert(1)</script><table>`)
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, "<tr><td>row %d</td><td><a href=\"https://example.com/item/%d\">item %d</a></td></tr>\r\n", i, i, i)
	}
	b.WriteString("</table>\r\n")
	raw := []byte(b.String())

	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			uid := dc.Append(t, dc.User(), "INBOX", raw)
			sink := startPostfixSink(t)
			g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"))
			g.start()
			syncedAndSent(t, g, int64(uid), 1)

			var cl convList
			g.api("/api/v1/conversations", &cl)
			if len(cl.Conversations) != 1 {
				t.Fatalf("%d conversations, want 1", len(cl.Conversations))
			}
			body := g.apiBody(fmt.Sprintf("/api/v1/conversations/%d", cl.Conversations[0].ID))
			if len(body) > 4<<20 {
				t.Errorf("the conversation is a %d-byte response, want at most 4 MiB", len(body))
			}
			var d struct {
				Messages []struct {
					HTML          string `json:"html"`
					TextTruncated bool   `json:"text_truncated"`
					HTMLTruncated bool   `json:"html_truncated"`
					Quarantined   bool   `json:"quarantined"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Messages) != 1 {
				t.Fatalf("%d messages", len(d.Messages))
			}
			m := d.Messages[0]
			if m.Quarantined || !m.HTMLTruncated || !m.TextTruncated || len(m.HTML) > 1<<20 {
				t.Errorf("stored: quarantined %v, text/html truncated %v/%v, %d bytes of HTML", m.Quarantined, m.TextTruncated, m.HTMLTruncated, len(m.HTML))
			}
			for _, bad := range []string{"tracker.example.com", "<script", "alert(1)"} {
				if strings.Contains(m.HTML, bad) {
					t.Errorf("served HTML contains %q", bad)
				}
			}
			if !strings.Contains(m.HTML, `target="_blank"`) || !strings.Contains(m.HTML, "row 0") {
				t.Errorf("served HTML lost its links or its text: %.300s", m.HTML)
			}
		})
	}
}
