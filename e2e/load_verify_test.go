package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// verifyExactlyOnce is the load benchmark's check, also run by the small
// test in make test: every message in want stored exactly once (by
// external id) and nothing else; tickets one per conversation that decided
// one and numbered 1..n per prefix and year; every reply sent once and
// handed to the SMTP server or to the Twilio stand-in exactly once (no
// process is killed here, so not even a resend is allowed).
func verifyExactlyOnce(t *testing.T, g *gateway, want []string, sink *postfixSink, fake *faketwilio.Server, rc *replyClock) {
	t.Helper()
	if resent := checkOnce(t, g, want, sink, fake); resent != 0 {
		t.Errorf("%d replies were handed over more than once", resent)
	}
	if rc == nil {
		return
	}
	// By recipient at the stand-in: each SMS reply's customer got exactly
	// as many messages as the store holds replies to them.
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT o.to_value, COUNT(*) FROM outbound_messages o
		JOIN channels c ON c.id = o.channel_id WHERE c.kind = 'sms' GROUP BY o.to_value`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]int{}
	for rows.Next() {
		var to string
		var n int
		if err := rows.Scan(&to, &n); err != nil {
			t.Fatal(err)
		}
		stored[to] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	at := rc.byRecipient()
	var wrong []string
	for to, n := range stored {
		if got := len(at[to]); got != n {
			wrong = append(wrong, fmt.Sprintf("%s: %d handed over, %d stored", to, got, n))
		}
	}
	for to, a := range at {
		if stored[to] == 0 {
			wrong = append(wrong, fmt.Sprintf("%s: %d handed over, none stored", to, len(a)))
		}
	}
	if len(wrong) > 0 {
		if len(wrong) > 10 {
			wrong = append(wrong[:10], fmt.Sprintf("… and %d more", len(wrong)-10))
		}
		t.Errorf("replies at the Twilio stand-in do not match the stored ones:\n%s", strings.Join(wrong, "\n"))
	}
}

// loadMail is mail i of a first sync: about size bytes, a request in
// English or Arabic with a quoted earlier exchange and a signature, as a
// support mailbox holds. Its Message-ID is loadMailID(i).
func loadMail(i, size int) []byte {
	subjects := []string{"Projector broken in room %d", "طلب صيانة القاعة %d", "Smart board for classroom %d", "استفسار عن الدرجات %d"}
	paras := []string{
		"The projector in room %d has shown no picture since Sunday morning. We tried another cable and the remote, and the lamp indicator stays red. Lectures in this room start at 8:00, so we would be grateful for a technician as soon as possible.",
		"البروجكتر في القاعة %d لا يعمل منذ صباح الأحد، جربنا كيبل آخر وجهاز التحكم ولا يزال مؤشر المصباح أحمر. المحاضرات تبدأ الساعة الثامنة ونرجو إرسال فني في أقرب وقت ممكن.",
		"For next semester we will need a smart board and two projectors supplied for classroom %d, together with the mounting and a short training session for the teaching staff of the department.",
		"أرجو مراجعة درجتي في المقرر %d لأنها تظهر بشكل غير صحيح في السجل الأكاديمي، وقد راجعت أستاذ المقرر وأكد أن الدرجة المرصودة تختلف عن الدرجة الفعلية.",
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Customer %[1]d <load%[1]d@example.edu.sa>\r\nTo: support@example.test\r\nSubject: %[2]s\r\n"+
		"Message-ID: <%[3]s>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		i, fmt.Sprintf(subjects[i%len(subjects)], i), loadMailID(i))
	fmt.Fprintf(&b, "Dear support team,\r\n\r\n%s\r\n\r\nBest regards,\r\nCustomer %d\r\nDepartment of Physics\r\n\r\n", fmt.Sprintf(paras[i%len(paras)], i), i)
	for k := 1; b.Len() < size; k++ {
		fmt.Fprintf(&b, "On Sun, %d Nov 2026 at 10:%02d, Customer %d wrote:\r\n", 1+k%28, k%60, i)
		line := ">"
		for _, w := range strings.Fields(fmt.Sprintf(paras[(i+k)%len(paras)], i+k)) {
			if len(line)+1+len(w) > 76 {
				b.WriteString(line + "\r\n")
				line = ">"
			}
			line += " " + w
		}
		b.WriteString(line + "\r\n\r\n")
	}
	return []byte(b.String())
}

func loadMailID(i int) string { return fmt.Sprintf("load-%d@example.edu.sa", i) }
