package store

import (
	"context"
	"errors"
	"testing"
)

// TestClaimStaffMail: a queued mail is claimed once it is asked for, an
// interrupted one (sending) again, a sent one not, and an unknown id is
// ErrNotFound; a claim is never an error when the mail is there.
func TestClaimStaffMail(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		m := StaffMail{Key: "weekly:classrooms:2026-11-08", To: "head@uni.example", Subject: "s", Text: "t"}
		err := s.InTx(ctx, func(tx *Tx) error {
			_, err := tx.QueueStaffMail(ctx, &m)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name        string
			mark        string // state set before the claim, "" for none
			id          int64
			wantClaimed bool
			wantErr     error
		}{
			{name: "queued", id: m.ID, wantClaimed: true},
			{name: "interrupted while sending", id: m.ID, wantClaimed: true},
			{name: "sent", mark: MailSent, id: m.ID},
			{name: "unknown", id: m.ID + 100, wantErr: ErrNotFound},
		}
		for _, st := range steps {
			if st.mark != "" {
				if err := s.MarkStaffMail(ctx, m.ID, st.mark, ""); err != nil {
					t.Fatal(err)
				}
			}
			got, claimed, err := s.ClaimStaffMail(ctx, st.id)
			switch {
			case st.wantErr != nil:
				if !errors.Is(err, st.wantErr) {
					t.Errorf("%s: err %v, want %v", st.name, err, st.wantErr)
				}
			case err != nil:
				t.Errorf("%s: %v", st.name, err)
			case claimed != st.wantClaimed || got.ID != m.ID || got.To != m.To:
				t.Errorf("%s: claimed %v %+v, want claimed %v of mail %d", st.name, claimed, got, st.wantClaimed, m.ID)
			}
		}
	})
}
