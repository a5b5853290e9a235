package tickets

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/store"
)

// JobInserter inserts River jobs in the caller's transaction (River's
// client).
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// StaffMailArgs is the job that sends one staff mail (router.StaffMailWorker
// runs it).
type StaffMailArgs struct {
	MailID int64 `json:"mail_id"`
}

// Kind names the job for River.
func (StaffMailArgs) Kind() string { return "staff_mail" }

// InsertOpts bounds the tries; the mail row says how it went.
func (StaffMailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

// QueueMail stores a staff mail and its send job in tx. A mail whose key
// was queued before is not stored again, and false is returned: every
// notice and report goes out once, whoever queues it how often.
func QueueMail(ctx context.Context, tx *store.Tx, jobs JobInserter, m *store.StaffMail) (bool, error) {
	queued, err := tx.QueueStaffMail(ctx, m)
	if err != nil || !queued {
		return false, err
	}
	if _, err := jobs.InsertTx(ctx, tx.SQL(), StaffMailArgs{MailID: m.ID}, nil); err != nil {
		return false, fmt.Errorf("enqueue staff mail %s: %w", m.Key, err)
	}
	return true, nil
}

// link is the inbox's page of a conversation, when the public URL is known.
func link(inboxURL string, conversationID int64) string {
	if inboxURL == "" || conversationID == 0 {
		return ""
	}
	return fmt.Sprintf("%s/conversations/%d", strings.TrimSuffix(inboxURL, "/"), conversationID)
}

// ReopenNotice is the mail telling a ticket's assignee that the customer
// wrote again and the ticket is open again, in their language.
func ReopenNotice(lang, inboxURL string, t store.Ticket, text string) (subject, body string) {
	if r := []rune(strings.TrimSpace(text)); len(r) > 500 {
		text = string(r[:500]) + "…"
	}
	url := link(inboxURL, t.ConversationID)
	if lang == "en" {
		subject = fmt.Sprintf("[#%s] reopened: the customer wrote again", t.Ref)
		body = fmt.Sprintf("Ticket %s (%s) was closed and the customer has written again, so it is open again.\n\nTheir message:\n%s\n", t.Ref, t.Subject, text)
		if url != "" {
			body += "\nOpen it: " + url + "\n"
		}
		return subject, body
	}
	subject = fmt.Sprintf("[#%s] أعيد فتح التذكرة: كتب العميل مجددًا", t.Ref)
	body = fmt.Sprintf("كانت التذكرة %s (%s) مغلقة وكتب العميل مجددًا، فأعيد فتحها.\n\nرسالته:\n%s\n", t.Ref, t.Subject, text)
	if url != "" {
		body += "\nافتحها: " + url + "\n"
	}
	return subject, body
}

// SLANotice is the mail telling a ticket's assignee or department head
// that one of its clocks is at risk or breached.
func SLANotice(lang, inboxURL string, t store.Ticket, clock, state, due string) (subject, body string) {
	url := link(inboxURL, t.ConversationID)
	if lang == "en" {
		what := map[string]string{ClockFirstResponse: "first reply", ClockResolution: "resolution"}[clock]
		how := map[string]string{SLAAtRisk: "at risk (80 % of the time used)", SLABreached: "breached"}[state]
		subject = fmt.Sprintf("[#%s] SLA %s: %s", t.Ref, what, map[string]string{SLAAtRisk: "at risk", SLABreached: "breached"}[state])
		body = fmt.Sprintf("The %s target of ticket %s (%s) is %s. It was due %s.\n", what, t.Ref, t.Subject, how, due)
		if url != "" {
			body += "\nOpen it: " + url + "\n"
		}
		return subject, body
	}
	what := map[string]string{ClockFirstResponse: "أول رد", ClockResolution: "الإنجاز"}[clock]
	how := map[string]string{SLAAtRisk: "مهددة (استُهلك 80% من المهلة)", SLABreached: "متجاوزة"}[state]
	subject = fmt.Sprintf("[#%s] مهلة %s: %s", t.Ref, what, map[string]string{SLAAtRisk: "مهددة", SLABreached: "متجاوزة"}[state])
	body = fmt.Sprintf("مهلة %s للتذكرة %s (%s) %s. موعدها %s.\n", what, t.Ref, t.Subject, how, due)
	if url != "" {
		body += "\nافتحها: " + url + "\n"
	}
	return subject, body
}

// SupplyListMail asks a department's head when the items of the tickets
// closed for want of them will be supplied, listing the tickets, in the
// head's language.
func SupplyListMail(lang, inboxURL, department string, ts []store.Ticket, zone *time.Location) (subject, body string) {
	var b strings.Builder
	if lang == "en" {
		subject = fmt.Sprintf("Tickets waiting on supply: %s (%d)", department, len(ts))
		fmt.Fprintf(&b, "These %d tickets of %s were closed not done because the item was unavailable.\n"+
			"Please reply with the date the items will be supplied, so that the tickets can be reopened and the requests met.\n\n", len(ts), department)
	} else {
		subject = fmt.Sprintf("تذاكر بانتظار التوريد: %s (%d)", department, len(ts))
		fmt.Fprintf(&b, "أُغلقت هذه التذاكر (%d) لدى %s بعدم الإنجاز لعدم توفر المستلزم.\n"+
			"نأمل الإفادة بموعد التوريد وتوفير المستلزم، ليعاد فتح التذاكر وتلبية طلبات العملاء.\n\n", len(ts), department)
	}
	for _, t := range ts {
		closed := ""
		if t.ClosedAt != nil {
			closed = t.ClosedAt.In(zone).Format(time.DateOnly)
		}
		fmt.Fprintf(&b, "- %s  %s  %s  %s", t.Ref, closed, t.Subject, t.OutcomeReason)
		if u := link(inboxURL, t.ConversationID); u != "" {
			b.WriteString("  " + u)
		}
		b.WriteString("\n")
	}
	return subject, b.String()
}
