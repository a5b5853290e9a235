package store

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// A batch's small blobs become visible with the commit of the transaction
// that wrote them (WriteTx), and not after a rollback; its large ones under
// their names on Sync; the same bytes twice are one blob; a failed Sync
// leaves no temp file behind.
func TestBlobBatch(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		large := strings.Repeat("x", InlineBlobMax+1)
		contents := []string{"first", "second", "first", large, "مرحبا", ""}
		already, err := s.PutBlob(ctx, []byte("stored before"))
		if err != nil {
			t.Fatal(err)
		}

		b := s.NewBlobBatch()
		var digests []string
		for _, c := range contents {
			d, err := b.Put(ctx, []byte(c))
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d)
		}
		if d, err := b.Put(ctx, []byte("stored before")); err != nil || d != already {
			t.Fatalf("Put of stored bytes = %s, %v; want %s", d, err, already)
		}
		if digests[0] != digests[2] {
			t.Errorf("the same bytes got digests %s and %s", digests[0], digests[2])
		}
		visible := func(when string, want map[int]bool) {
			t.Helper()
			for i, d := range digests {
				f, err := s.OpenBlob(ctx, d)
				if !want[i] {
					if err == nil {
						f.Close()
					}
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("%s: blob %d visible (err %v)", when, i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: blob %d: %v", when, i, err)
				}
				got, err := io.ReadAll(f)
				f.Close()
				if err != nil || string(got) != contents[i] {
					t.Errorf("%s: blob %d holds %d bytes (%v), want %d", when, i, len(got), err, len(contents[i]))
				}
			}
		}
		visible("before Sync", nil)
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		visible("after Sync", map[int]bool{3: true})

		rollback := errors.New("roll back")
		if err := s.InTx(ctx, func(tx *Tx) error {
			if err := b.WriteTx(ctx, tx); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("InTx = %v", err)
		}
		visible("after a rolled-back WriteTx", map[int]bool{3: true})
		// Twice, as a retried transaction does, and again in another one:
		// what is stored stays.
		for range 2 {
			if err := s.InTx(ctx, func(tx *Tx) error {
				if err := b.WriteTx(ctx, tx); err != nil {
					return err
				}
				return b.WriteTx(ctx, tx)
			}); err != nil {
				t.Fatal(err)
			}
		}
		visible("after the commit", map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true})
		if _, err := s.OpenBlob(ctx, already); err != nil {
			t.Errorf("the blob stored as a file before: %v", err)
		}

		// A batch that cannot sync (its context ended) leaves nothing.
		b = s.NewBlobBatch()
		d, err := b.Put(ctx, []byte(large+"never synced"))
		if err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Sync(cancelled); err == nil {
			t.Fatal("Sync with a cancelled context succeeded")
		}
		if _, err := s.OpenBlob(ctx, d); !errors.Is(err, ErrNotFound) {
			t.Errorf("unsynced blob visible: %v", err)
		}
		temps, _ := filepath.Glob(filepath.Join(s.dataDir, "blobs", "*", ".tmp-*"))
		if len(temps) != 0 {
			t.Errorf("temp files left: %v", temps)
		}
	})
}

// TestSmallBlobCodec: on SQLite a small blob that compresses is kept
// s2-compressed (migration 00028), one that does not is kept as it is; on
// PostgreSQL (lz4 in the server) always as it is. Each reads back whole.
func TestSmallBlobCodec(t *testing.T) {
	noise := make([]byte, 8<<10)
	for i := range noise {
		noise[i] = byte(uint32(i)*2654435761>>13) ^ byte(i*7)
	}
	cases := []struct {
		name, data string
		compress   bool // on SQLite
	}{
		{"mail", strings.Repeat("Dear support team, the portal says my fees are unpaid.\r\n", 150), true},
		{"arabic", strings.Repeat("البروجكتر في القاعة لا يعمل منذ صباح الأحد\r\n", 120), true},
		{"noise", string(noise), false},
		{"short", "hi", false},
	}
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		b := s.NewBlobBatch()
		digests := make([]string, len(cases))
		for i, c := range cases {
			d, err := b.Put(ctx, []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			digests[i] = d
		}
		if err := s.InTx(ctx, func(tx *Tx) error { return b.WriteTx(ctx, tx) }); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			var codec string
			var size int
			if err := s.DB().QueryRowContext(ctx, `SELECT codec, length(data) FROM blob_data WHERE sha256 = $1`, digests[i]).Scan(&codec, &size); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			want := ""
			if c.compress && s.dialect == SQLite {
				want = blobCodecS2
			}
			if codec != want || (want != "" && size > len(c.data)/2) || (want == "" && size != len(c.data)) {
				t.Errorf("%s: stored %d of %d bytes with codec %q, want %q", c.name, size, len(c.data), codec, want)
			}
			f, err := s.OpenBlob(ctx, digests[i])
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			back, err := io.ReadAll(f)
			f.Close()
			if err != nil || string(back) != c.data {
				t.Errorf("%s: read back %d bytes (%v), want the %d stored", c.name, len(back), err, len(c.data))
			}
		}
		// A codec this build does not know is an error, not garbage.
		if _, err := s.DB().ExecContext(ctx, `UPDATE blob_data SET codec = 'zz' WHERE sha256 = $1`, digests[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenBlob(ctx, digests[0]); err == nil || !strings.Contains(err.Error(), `unknown codec "zz"`) {
			t.Errorf("OpenBlob of an unknown codec: %v, want an error naming it", err)
		}
	})
}
