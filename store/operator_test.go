package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// TestUIChannels: channels added in the web UI live beside the file's,
// change revision with every edit, keep their secret unless a new one is
// given, and are deleted without losing their history or holding their
// name; the file's channels are read-only to them and vice versa.
func TestUIChannels(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s) // a file channel, email-main, with a conversation
		c := Channel{Name: "ui-mail", Kind: message.Email, Config: json.RawMessage(`{"name":"ui-mail"}`), Enabled: true}
		var sealedFor int64
		mustTx(t, s, func(tx *Tx) error {
			return tx.CreateChannel(ctx, &c, func(id int64) ([]byte, error) { sealedFor = id; return []byte("sealed-1"), nil })
		})
		if c.ID == 0 || sealedFor != c.ID || c.Source != SourceUI || c.Revision != 1 {
			t.Fatalf("created %+v, sealed for %d", c, sealedFor)
		}
		got, err := s.Channel(ctx, c.ID)
		if err != nil || !bytes.Equal(got.Secret, []byte("sealed-1")) || got.Source != SourceUI || got.Revision != 1 || !got.Enabled {
			t.Fatalf("Channel = %+v, %v", got, err)
		}
		if b, _ := json.Marshal(got); bytes.Contains(b, []byte("sealed-1")) {
			t.Errorf("the secret is marshalled: %s", b)
		}

		// Names are shared between the file and the UI.
		dup := Channel{Name: "email-main", Kind: message.Email}
		if err := s.InTx(ctx, func(tx *Tx) error { return tx.CreateChannel(ctx, &dup, nil) }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("a UI channel named like the file's: %v, want ErrDuplicate", err)
		}
		clash := Channel{Name: "ui-mail", Kind: message.Email, Enabled: true}
		if err := s.UpsertChannel(ctx, &clash); !errors.Is(err, ErrNameTaken) {
			t.Errorf("the file naming a UI channel: %v, want ErrNameTaken", err)
		}
		if again, _ := s.Channel(ctx, c.ID); again.Revision != 1 || !bytes.Equal(again.Secret, []byte("sealed-1")) {
			t.Errorf("the file's upsert changed the UI channel: %+v", again)
		}

		// Edits move the revision; a nil secret keeps the stored one.
		got.Config, got.Enabled = json.RawMessage(`{"name":"ui-mail","v":2}`), true
		mustTx(t, s, func(tx *Tx) error { return tx.UpdateChannel(ctx, got, nil) })
		got, _ = s.Channel(ctx, c.ID)
		if got.Revision != 2 || !bytes.Equal(got.Secret, []byte("sealed-1")) || !strings.Contains(string(got.Config), `"v":2`) {
			t.Errorf("after an edit without a secret: %+v", got)
		}
		mustTx(t, s, func(tx *Tx) error { return tx.UpdateChannel(ctx, got, []byte("sealed-2")) })
		mustTx(t, s, func(tx *Tx) error { return tx.SetChannelEnabled(ctx, c.ID, false) })
		got, _ = s.Channel(ctx, c.ID)
		if got.Revision != 4 || got.Enabled || !bytes.Equal(got.Secret, []byte("sealed-2")) {
			t.Errorf("after a new secret and disabling: %+v", got)
		}
		renamed := got
		renamed.Name = "email-main"
		if err := s.InTx(ctx, func(tx *Tx) error { return tx.UpdateChannel(ctx, renamed, nil) }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("renaming onto a taken name: %v", err)
		}

		// The file's channels are read-only here.
		for name, fn := range map[string]func(tx *Tx) error{
			"update":  func(tx *Tx) error { fc := f.ch; return tx.UpdateChannel(ctx, fc, nil) },
			"disable": func(tx *Tx) error { return tx.SetChannelEnabled(ctx, f.ch.ID, false) },
			"delete":  func(tx *Tx) error { return tx.DeleteChannel(ctx, f.ch.ID) },
		} {
			if err := s.InTx(ctx, fn); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "config file") {
				t.Errorf("%s a file channel: %v, want ErrReadOnly", name, err)
			}
		}

		// Deleting keeps the row and its conversations, forgets the secret,
		// frees the name; a deleted channel cannot be changed.
		conv := Conversation{ContactID: f.contact.ID, ChannelID: c.ID, Subject: "kept"}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateConversation(ctx, &conv) })
		mustTx(t, s, func(tx *Tx) error { return tx.DeleteChannel(ctx, c.ID) })
		got, _ = s.Channel(ctx, c.ID)
		if got.DeletedAt == nil || got.Enabled || got.Secret != nil || got.Name == "ui-mail" || !strings.HasPrefix(got.Name, "ui-mail~") {
			t.Errorf("deleted channel: %+v", got)
		}
		if n := count(t, s, `SELECT count(*) FROM conversations WHERE channel_id = `+strconv.FormatInt(c.ID, 10)); n != 1 {
			t.Errorf("conversations of the deleted channel: %d, want 1", n)
		}
		if err := s.InTx(ctx, func(tx *Tx) error { return tx.SetChannelEnabled(ctx, c.ID, true) }); !errors.Is(err, ErrReadOnly) {
			t.Errorf("enabling a deleted channel: %v", err)
		}
		again := Channel{Name: "ui-mail", Kind: message.SMS}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateChannel(ctx, &again, nil) })

		// Actions for the replica that drives a channel.
		mustTx(t, s, func(tx *Tx) error { return tx.RequestChannelAction(ctx, again.ID, "pair") })
		mustTx(t, s, func(tx *Tx) error { return tx.RequestChannelAction(ctx, again.ID, "logout") })
		if a, _ := s.Channel(ctx, again.ID); a.Action != "logout" || a.ActionSeq != 2 || a.Revision != 1 {
			t.Errorf("after two actions: %+v (an action is not a revision)", a)
		}
		if _, err := s.Channel(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing channel: %v", err)
		}
	})
}

// TestRotateSecrets: every secret is rewritten in one transaction; one
// that cannot be re-encrypted rolls all of them back.
func TestRotateSecrets(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		var ids []int64
		for _, name := range []string{"a", "b", "c"} {
			c := Channel{Name: name, Kind: message.SMS}
			mustTx(t, s, func(tx *Tx) error {
				return tx.CreateChannel(ctx, &c, func(id int64) ([]byte, error) { return []byte("old-" + name), nil })
			})
			ids = append(ids, c.ID)
		}
		plain := Channel{Name: "no-secret", Kind: message.WhatsApp}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateChannel(ctx, &plain, nil) })

		_, err := s.RotateSecrets(ctx, func(id int64, name string, sec []byte) ([]byte, error) {
			if name == "c" {
				return nil, errors.New("cannot decrypt")
			}
			return []byte("new-" + name), nil
		})
		if err == nil || !strings.Contains(err.Error(), `channel "c"`) {
			t.Fatalf("a failing rotation: %v", err)
		}
		for i, id := range ids {
			if c, _ := s.Channel(ctx, id); !strings.HasPrefix(string(c.Secret), "old-") {
				t.Errorf("channel %d after a failed rotation: %q, want it untouched", i, c.Secret)
			}
		}
		n, err := s.RotateSecrets(ctx, func(id int64, name string, sec []byte) ([]byte, error) {
			return []byte("new-" + strings.TrimPrefix(string(sec), "old-")), nil
		})
		if err != nil || n != 3 {
			t.Fatalf("rotation: %d, %v; want 3 channels", n, err)
		}
		for _, id := range ids {
			if c, _ := s.Channel(ctx, id); !strings.HasPrefix(string(c.Secret), "new-") {
				t.Errorf("after rotation: %q", c.Secret)
			}
		}
		if c, _ := s.Channel(ctx, plain.ID); c.Secret != nil {
			t.Errorf("a channel without a secret got one: %q", c.Secret)
		}
	})
}

// TestAuditAndHeads: an audited change and its record commit together; the
// log pages newest first; a department has at most one head.
func TestAuditAndHeads(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		u := newUser(t, s, "head@uni.example", RoleAgent, "classrooms")
		err := s.Audited(ctx, AuditEntry{Actor: "op@uni.example", Action: "user.disable", TargetKind: "user", Target: u.Email},
			func(tx *Tx) error {
				if err := tx.SetUserActive(ctx, u.ID, false); err != nil {
					return err
				}
				return errRollback
			})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if got, _ := s.UserByID(ctx, u.ID); !got.Active {
			t.Error("the rolled-back change stuck")
		}
		if log, _ := s.AuditLog(ctx, AuditFilter{}); len(log) != 0 {
			t.Errorf("a rolled-back change was audited: %+v", log)
		}
		for i, action := range []string{"user.update", "user.disable", "channel.create"} {
			kind, target := "user", u.Email
			if i == 2 {
				kind, target = "channel", "ui-mail"
			}
			if err := s.Audited(ctx, AuditEntry{Actor: "op@uni.example", Action: action, TargetKind: kind, Target: target, Detail: "fields: name"},
				func(tx *Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.AuditLog(ctx, AuditFilter{})
		if err != nil || len(all) != 3 || all[0].Action != "channel.create" || all[2].Action != "user.update" || all[0].At.IsZero() {
			t.Fatalf("AuditLog = %+v, %v", all, err)
		}
		users, _ := s.AuditLog(ctx, AuditFilter{TargetKind: "user", Target: u.Email})
		older, _ := s.AuditLog(ctx, AuditFilter{BeforeID: all[0].ID, Limit: 1})
		if len(users) != 2 || len(older) != 1 || older[0].ID != all[1].ID {
			t.Errorf("filtered %d, paged %+v", len(users), older)
		}
		if err := s.Audited(ctx, AuditEntry{Action: "x"}, func(*Tx) error { return nil }); err == nil {
			t.Error("an audit entry without an actor was stored")
		}

		other := newUser(t, s, "other@uni.example", RoleAgent, "classrooms")
		mustTx(t, s, func(tx *Tx) error { return tx.SetDepartmentHead(ctx, "classrooms", u.ID) })
		mustTx(t, s, func(tx *Tx) error { return tx.SetDepartmentHead(ctx, "classrooms", other.ID) })
		it := newUser(t, s, "it@uni.example", RoleAgent, "it_support")
		mustTx(t, s, func(tx *Tx) error { return tx.SetDepartmentHead(ctx, "it_support", it.ID) })
		mustTx(t, s, func(tx *Tx) error { return tx.SetDepartmentHead(ctx, "it_support", 0) })
		heads, err := s.DepartmentHeads(ctx)
		if err != nil || len(heads) != 1 || heads["classrooms"] != other.ID {
			t.Errorf("DepartmentHeads = %v, %v", heads, err)
		}
		// The head the operator set is the one the ticket workflow assigns.
		if h, ok, err := s.DepartmentHead(ctx, "classrooms"); err != nil || !ok || h.ID != other.ID {
			t.Errorf("DepartmentHead(classrooms) = %d, %v, %v; want the operator's pick %d", h.ID, ok, err, other.ID)
		}
		if err := s.InTx(ctx, func(tx *Tx) error { return tx.SetDepartmentHead(ctx, "maintenance_center", other.ID) }); err == nil {
			t.Error("a user outside the department was made its head")
		}
	})
}

// TestChannelStatusAndActivity: the last status a replica reported, and a
// channel's traffic for the operator page.
func TestChannelStatusAndActivity(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		if err := s.PutChannelStatus(ctx, ChannelStatus{ChannelID: f.ch.ID, Replica: "a", Status: []byte(`{"state":"connecting"}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutChannelStatus(ctx, ChannelStatus{ChannelID: f.ch.ID, Replica: "b", Status: []byte(`{"state":"connected"}`)}); err != nil {
			t.Fatal(err)
		}
		sts, err := s.ChannelStatuses(ctx)
		if st := sts[f.ch.ID]; err != nil || len(sts) != 1 || st.Replica != "b" || string(st.Status) != `{"state":"connected"}` || st.UpdatedAt.IsZero() {
			t.Errorf("ChannelStatuses = %+v, %v", sts, err)
		}

		a, err := s.ChannelActivity(ctx, f.ch.ID, time.Now().Add(-24*time.Hour))
		if err != nil || a.In != 0 || a.Out != 0 || a.LastIn != nil {
			t.Fatalf("activity of a quiet channel: %+v, %v", a, err)
		}
		var m Message
		mustTx(t, s, func(tx *Tx) error {
			m = Message{ChannelID: f.ch.ID, ExternalID: "x1", ConversationID: f.conv.ID, ContactID: f.contact.ID,
				From: message.Party{Kind: message.IdentityEmail, Value: "sara@example.com"}, Text: "hi"}
			return tx.InsertMessage(ctx, &m)
		})
		o := f.outbound("<r1@wasl>", true)
		mustTx(t, s, func(tx *Tx) error { return tx.InsertOutbound(ctx, o) })
		a, err = s.ChannelActivity(ctx, f.ch.ID, time.Now().Add(-24*time.Hour))
		if err != nil || a.In != 1 || a.Out != 1 || a.LastIn == nil {
			t.Errorf("activity: %+v, %v", a, err)
		}
		if a, _ := s.ChannelActivity(ctx, f.ch.ID, time.Now().Add(time.Hour)); a.In != 0 || a.Out != 0 || a.LastIn == nil {
			t.Errorf("counts since the future: %+v (the last message is still the last)", a)
		}
	})
}
