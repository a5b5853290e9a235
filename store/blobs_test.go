package store

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// A batch's blobs become visible under their names only on Sync, all
// whole; the same bytes twice are one blob; a failed Sync leaves no temp
// file behind.
func TestBlobBatch(t *testing.T) {
	s := openStore(t, backends()[0])
	ctx := t.Context()
	contents := []string{"first", "second", "first", strings.Repeat("x", 100<<10)}
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
	for _, d := range digests {
		if _, err := s.OpenBlob(d); !errors.Is(err, ErrNotFound) {
			t.Errorf("blob %s visible before Sync (err %v)", d[:8], err)
		}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, d := range digests {
		f, err := s.OpenBlob(d)
		if err != nil {
			t.Fatalf("blob %d after Sync: %v", i, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != contents[i] {
			t.Errorf("blob %d holds %d bytes (%v), want %d", i, len(got), err, len(contents[i]))
		}
	}

	// A batch that cannot sync (its context ended) leaves nothing.
	b = s.NewBlobBatch()
	d, err := b.Put(ctx, []byte("never synced"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Sync(cancelled); err == nil {
		t.Fatal("Sync with a cancelled context succeeded")
	}
	if _, err := s.OpenBlob(d); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsynced blob visible: %v", err)
	}
	temps, _ := filepath.Glob(filepath.Join(s.dataDir, "blobs", "*", ".tmp-*"))
	if len(temps) != 0 {
		t.Errorf("temp files left: %v", temps)
	}
}
