package router

import (
	"context"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// The sender's contact is made once, with the language they first wrote
// in and the name they first gave; a later message names a contact that
// had no name and never renames or relabels one; alone or in a batch.
func TestContactKept(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			// The stub classifier's languages: the Arabic text is Arabic,
			// the English ones English.
			named := func(id, from, who, text string) message.Inbound {
				in := e.mail(id, from, "Projector", text)
				in.From.Name = who
				return in
			}
			steps := []struct {
				batch              []message.Inbound
				wantName, wantLang string
				wantContacts       int
			}{
				// New, nameless, in Arabic.
				{[]message.Inbound{named("c1@x", "noura@example.edu", "", "البروجكتر خربان")}, "", "ar", 1},
				// Named later, in English: the name is taken, the language kept.
				{[]message.Inbound{named("c2@x", "noura@example.edu", "Noura", "how do I get clearance")}, "Noura", "ar", 1},
				// Another name never renames; a batch sees its own contact.
				{[]message.Inbound{
					named("c3@x", "noura@example.edu", "N. Alsubaie", "projector broken"),
					named("c4@x", "sara@example.edu", "Sara", "how do I get clearance"),
					named("c5@x", "sara@example.edu", "", "my grade is wrong"),
				}, "Noura", "ar", 2},
				// A nameless contact with two addresses...
				{[]message.Inbound{withIdentity(named("c6@x", "huda@example.edu", "", "projector broken"), "huda.alt@example.edu")}, "", "ar", 3},
				// ...named by the first message of a batch, by one address,
				// is not renamed by the next, by the other: the batch's
				// look-up of its senders gives way to what the batch wrote.
				{[]message.Inbound{
					named("c7@x", "huda@example.edu", "Huda", "projector broken"),
					named("c8@x", "huda.alt@example.edu", "H. Other", "projector broken"),
				}, "Huda", "ar", 3},
				// A new sender's second message in the batch finds the
				// contact the first made, and names it.
				{[]message.Inbound{
					named("c9@x", "lina@example.edu", "", "projector broken"),
					named("c10@x", "lina@example.edu", "Lina", "projector broken"),
				}, "Lina", "ar", 4},
			}
			for i, st := range steps {
				rs, err := e.p.IngestBatch(ctx, st.batch, nil)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				m, err := e.st.Message(ctx, rs[0].MessageID)
				if err != nil {
					t.Fatal(err)
				}
				c, err := e.st.Contact(ctx, m.ContactID)
				if err != nil {
					t.Fatal(err)
				}
				if c.DisplayName != st.wantName || c.Language != st.wantLang {
					t.Errorf("step %d: contact %q in %q, want %q in %q", i, c.DisplayName, c.Language, st.wantName, st.wantLang)
				}
				if n := e.count(t, `SELECT count(*) FROM contacts`); n != st.wantContacts {
					t.Errorf("step %d: %d contacts, want %d", i, n, st.wantContacts)
				}
			}
			var sara int64
			if err := e.st.DB().QueryRowContext(ctx, `SELECT contact_id FROM contact_identities WHERE value = 'sara@example.edu'`).Scan(&sara); err != nil {
				t.Fatal(err)
			}
			c, err := e.st.Contact(ctx, sara)
			if err != nil || c.DisplayName != "Sara" || c.Language != "en" || len(c.Identities) != 1 {
				t.Errorf("the batch's new contact: %+v, %v; want Sara in en with one identity", c, err)
			}
		})
	}
}

func withIdentity(in message.Inbound, email string) message.Inbound {
	in.Identities = append(in.Identities, message.Party{Kind: message.IdentityEmail, Value: email})
	return in
}
