package store

import (
	"errors"
	"testing"
)

// AfterCommit's functions run once the transaction has committed, when
// its writes are visible to every other connection, and not at all when it
// rolls back; a transaction InTx did not open takes none.
func TestAfterCommit(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := seed(t, s)
		tests := []struct {
			name    string
			fail    error
			wantRun bool
		}{
			{"committed", nil, true},
			{"rolled back", errors.New("no"), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := f.outbound("", true)
				ran, visible := false, false
				err := s.InTx(ctx, func(tx *Tx) error {
					if err := tx.InsertOutbound(ctx, o); err != nil {
						return err
					}
					if !s.AfterCommit(tx.SQL(), func() {
						ran = true
						_, err := s.Outbound(ctx, o.ID) // another connection
						visible = err == nil
					}) {
						t.Error("AfterCommit refused InTx's transaction")
					}
					return tt.fail
				})
				if !errors.Is(err, tt.fail) {
					t.Fatalf("InTx: %v, want %v", err, tt.fail)
				}
				if ran != tt.wantRun {
					t.Errorf("ran = %v, want %v", ran, tt.wantRun)
				}
				if ran && !visible {
					t.Error("the hook ran before the commit was visible")
				}
			})
		}
		sqlTx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sqlTx.Rollback()
		if s.AfterCommit(sqlTx, func() {}) {
			t.Error("AfterCommit took a transaction InTx did not open")
		}
	})
}
