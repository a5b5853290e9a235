package router

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// intakeChannels adds a form channel and a phone line to the env.
func (e *env) intakeChannels(t *testing.T) (form, phone int64) {
	t.Helper()
	for _, c := range []struct {
		name string
		kind message.Kind
		id   *int64
	}{{"forms", message.Form, &form}, {"phone", message.Phone, &phone}} {
		ch := store.Channel{Name: c.name, Kind: c.kind, Enabled: true}
		if err := e.st.UpsertChannel(context.Background(), &ch); err != nil {
			t.Fatal(err)
		}
		*c.id = ch.ID
	}
	return form, phone
}

const (
	formEmail = "noura@example.edu.sa"
	formPhone = "+966551112233"
)

func (e *env) maintenanceForm(form int64, key string, routes ...message.Route) message.Inbound {
	fields := []message.Field{
		{Name: "name", Label: "الاسم الثلاثي", Value: "نورة السبيعي"},
		{Name: "category", Label: "الفئة", Value: "أكاديمي", Code: "academic"},
		{Name: "device", Label: "الجهاز", Value: "جهاز العرض"},
		{Name: "fault", Label: "وصف العطل", Value: "يطفئ وحده"},
	}
	var lines []string
	for _, f := range fields {
		lines = append(lines, f.Label+": "+f.Value)
	}
	return message.Inbound{ChannelID: form, Channel: message.Form, ExternalID: "form:" + key,
		From:       message.Party{Kind: message.IdentityEmail, Value: formEmail, Name: "نورة السبيعي"},
		Identities: []message.Party{{Kind: message.IdentityPhone, Value: formPhone, Name: "نورة السبيعي"}},
		Subject:    "صيانة المستلزمات والأجهزة التعليمية: جهاز العرض",
		// The stub classifier takes this for nothing it knows.
		Text:     strings.Join(lines, "\n"),
		Fields:   fields,
		Declared: &message.Declared{Topic: "equipment_maintenance", Outcome: message.OutcomeTicket, Language: "ar"},
		Routes:   routes,
	}
}

func TestPipelineIntake(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("form: ticket for its topic, acknowledged by email and SMS, one history with the SMS", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				form, _ := e.intakeChannels(t)
				sms1 := e.process(t, e.phone(message.SMS, "SM1", formPhone, "my grade is wrong"))
				routes := []message.Route{
					{ChannelID: e.email, Channel: message.Email, To: message.Party{Kind: message.IdentityEmail, Value: formEmail, Name: "نورة السبيعي"}},
					{ChannelID: e.sms, Channel: message.SMS, To: message.Party{Kind: message.IdentityPhone, Value: formPhone}},
				}
				in := e.maintenanceForm(form, "k1", routes...)
				r := e.process(t, in)
				if r.Decision.Action != ActionTicket || r.Decision.Department != "maintenance_center" || r.Decision.Topic != "equipment_maintenance" {
					t.Fatalf("decision %+v", r.Decision)
				}
				if !strings.Contains(strings.Join(r.Decision.Reasons, "\n"), "the classifier found no topic") {
					t.Errorf("reasons lack the classifier's view: %q", r.Decision.Reasons)
				}
				d, err := e.st.Conversation(context.Background(), r.ConversationID)
				if err != nil {
					t.Fatal(err)
				}
				if d.Contact.ID != sms1.Outcome.ConversationID && d.Contact.ID == 0 {
					t.Fatal("no contact")
				}
				smsConv, _ := e.st.Conversation(context.Background(), sms1.ConversationID)
				if d.Contact.ID != smsConv.Contact.ID {
					t.Errorf("the form's contact %d is not the SMS's %d", d.Contact.ID, smsConv.Contact.ID)
				}
				var ids []string
				for _, p := range d.Contact.Identities {
					ids = append(ids, string(p.Kind)+":"+p.Value)
				}
				if !slices.Contains(ids, "email:"+formEmail) || !slices.Contains(ids, "phone:"+formPhone) || d.Contact.DisplayName != "نورة السبيعي" {
					t.Errorf("contact %q has identities %v, want the email and the mobile", d.Contact.DisplayName, ids)
				}
				if d.Conversation.ChannelID != form || len(d.Tickets) != 1 || d.Tickets[0].Department != "maintenance_center" {
					t.Errorf("conversation on channel %d, tickets %+v", d.Conversation.ChannelID, d.Tickets)
				}
				if m := d.Messages[0]; len(m.Fields) != 4 || m.Fields[1].Code != "academic" || m.Topic != "equipment_maintenance" || m.Language != "ar" {
					t.Errorf("stored message %+v", m)
				}
				if len(d.Outbound) != 2 {
					t.Fatalf("outbound %+v, want the acknowledgement by email and by SMS", d.Outbound)
				}
				mail, text := d.Outbound[0], d.Outbound[1]
				if mail.ChannelID != e.email || mail.To.Value != formEmail || !mail.Auto || mail.HeaderMessageID == "" || mail.InReplyTo != "" ||
					!strings.Contains(mail.Subject, r.TicketRef) || strings.HasPrefix(mail.Subject, "Re:") || !strings.Contains(mail.HTML, r.TicketRef) {
					t.Errorf("email acknowledgement %+v", mail)
				}
				if text.ChannelID != e.sms || text.To.Value != formPhone || !strings.Contains(text.Text, r.TicketRef) || len([]rune(text.Text)) > 134 || text.HTML != "" {
					t.Errorf("SMS acknowledgement %+v", text)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'send_outbound'`); n != 3 {
					t.Errorf("send jobs = %d, want the SMS's reply and the two acknowledgements", n)
				}

				// The double click: one ticket, nothing more sent.
				if again := e.process(t, in); !again.Duplicate || again.MessageID != r.MessageID {
					t.Errorf("second submission %+v, want a duplicate", again.Outcome)
				}
				// Another form from the same person: its own conversation and ticket.
				r2 := e.process(t, e.maintenanceForm(form, "k2", routes[0]))
				if r2.ConversationID == r.ConversationID || r2.TicketRef == r.TicketRef || r2.TicketRef == "" {
					t.Errorf("second form %+v joined the first", r2.Outcome)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM tickets`); n != 2 {
					t.Errorf("tickets = %d, want 2", n)
				}
			})

			t.Run("form: the mobile of someone else is not merged", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				form, _ := e.intakeChannels(t)
				e.process(t, e.mail("m1@x", formEmail, "hello", "how do I get clearance"))
				e.process(t, e.phone(message.SMS, "SM1", formPhone, "my grade is wrong"))
				r := e.process(t, e.maintenanceForm(form, "k1"))
				d, _ := e.st.Conversation(context.Background(), r.ConversationID)
				if len(d.Contact.Identities) != 1 || d.Contact.Identities[0].Value != formEmail {
					t.Errorf("identities %+v, want the email's contact alone", d.Contact.Identities)
				}
				if !strings.Contains(strings.Join(r.Decision.Reasons, "\n"), "phone "+formPhone+" belongs to another contact") {
					t.Errorf("reasons %q", r.Decision.Reasons)
				}
				if r.OutboundID != 0 {
					t.Error("a form without routes sent something")
				}
			})

			t.Run("call: the representative's links by WhatsApp, nothing automatic", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				_, phone := e.intakeChannels(t)
				const caller = "+966557654321"
				links := "Hello, here are the links we talked about:\n- Maintenance: https://wasl.test/forms/equipment_maintenance\n\nRate us: https://example.edu.sa/survey?call=c1"
				in := message.Inbound{ChannelID: phone, Channel: message.Phone, ExternalID: "call:c1",
					From:     message.Party{Kind: message.IdentityPhone, Value: caller, Name: "Reem"},
					Text:     "Inquiry: the projector in room 12 is broken",
					Fields:   []message.Field{{Name: "inquiry", Label: "Inquiry", Value: "the projector in room 12 is broken"}},
					Declared: &message.Declared{Topic: "equipment_maintenance", Outcome: message.OutcomeGuided, Language: "en", Note: "call logged by sara@uni.example"},
					Routes:   []message.Route{{ChannelID: e.wa, Channel: message.WhatsApp, To: message.Party{Kind: message.IdentityPhone, Value: caller}, Text: links}},
				}
				r := e.process(t, in)
				if r.Decision.Action != ActionAnswer || r.Decision.AutoReply || r.TicketID != 0 {
					t.Errorf("decision %+v", r.Decision)
				}
				d, _ := e.st.Conversation(context.Background(), r.ConversationID)
				if len(d.Outbound) != 1 {
					t.Fatalf("outbound %+v, want the links alone", d.Outbound)
				}
				if o := d.Outbound[0]; o.ChannelID != e.wa || o.Text != links || o.Auto || o.To.Value != caller {
					t.Errorf("links message %+v", o)
				}
				var dec Decision
				if err := json.Unmarshal(d.Messages[0].Decision, &dec); err != nil || !strings.Contains(strings.Join(dec.Reasons, "\n"), "call logged by sara@uni.example: the caller was guided") {
					t.Errorf("stored reasons %q (%v)", dec.Reasons, err)
				}
				// An SMS from the caller afterwards: the same contact, its own conversation.
				s := e.process(t, e.phone(message.SMS, "SM9", caller, "my grade is wrong"))
				sd, _ := e.st.Conversation(context.Background(), s.ConversationID)
				if sd.Contact.ID != d.Contact.ID || s.ConversationID == r.ConversationID {
					t.Errorf("SMS after the call: contact %d (call's %d), conversation %d (call's %d)", sd.Contact.ID, d.Contact.ID, s.ConversationID, r.ConversationID)
				}
			})

			t.Run("a route must be able to send", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				form, _ := e.intakeChannels(t)
				in := e.maintenanceForm(form, "k1", message.Route{ChannelID: form, Channel: message.Form, To: message.Party{Kind: message.IdentityEmail, Value: formEmail}})
				if _, err := e.p.Process(context.Background(), in); err == nil {
					t.Fatal("a route to the form channel itself was taken")
				}
			})
		})
	}
}
