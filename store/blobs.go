package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrTooLarge is PutBlobFrom's error for content over its limit.
var ErrTooLarge = errors.New("content over the size limit")

// PutBlob stores data under its SHA-256 and returns the hex digest. Call it
// before the transaction that refers to the blob: a blob nothing refers to
// is harmless, a reference to a missing blob is not. Storing the same bytes
// again is a no-op. The file appears whole or not at all (temp file, fsync,
// rename). It is a BlobBatch of one.
func (s *Store) PutBlob(ctx context.Context, data []byte) (string, error) {
	b := s.NewBlobBatch()
	digest, err := b.Put(ctx, data)
	if err != nil {
		return "", err
	}
	if err := b.Sync(ctx); err != nil {
		return "", err
	}
	return digest, nil
}

// BlobBatch stores many blobs and makes them durable together: Put each,
// then Sync once before the transaction that refers to them. A blob costs
// a file write; the batch costs one flush of the files' data and one of
// their names (syncfs on Linux when it holds more than one file), instead
// of a file and a directory fsync per blob. Until Sync returns, a Put
// digest must not be committed anywhere. Not for concurrent use.
type BlobBatch struct {
	s       *Store
	pending []pendingBlob   // written under a temp name, not yet durable
	seen    map[string]bool // digests Put in this batch
	dirs    map[string]bool // directories whose entries Sync must flush
}

type pendingBlob struct{ tmp, path string }

// NewBlobBatch starts a batch of blob writes.
func (s *Store) NewBlobBatch() *BlobBatch {
	return &BlobBatch{s: s, seen: map[string]bool{}, dirs: map[string]bool{}}
}

// Put writes data under a temp name beside its final place and returns its
// digest; Sync makes it durable and moves it into place.
func (b *BlobBatch) Put(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if b.seen[digest] {
		return digest, nil
	}
	path := b.s.blobPath(digest)
	dir := filepath.Dir(path)
	if _, err := os.Stat(path); err == nil {
		// Whole (its data was flushed before the rename), but another
		// writer's rename may not be durable yet: flush the name again.
		b.seen[digest], b.dirs[dir] = true, true
		return digest, nil
	}
	root := filepath.Join(b.s.dataDir, "blobs")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	if err := os.Mkdir(dir, 0o750); err == nil {
		b.dirs[root] = true // a new fan-out directory is an entry of root
	} else if !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("put blob: %w", err)
	}
	// The temp file lives in the blob's own directory, so its rename
	// changes that directory alone.
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("put blob: write: %w", err)
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("put blob: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("put blob: close: %w", err)
	}
	b.pending = append(b.pending, pendingBlob{tmp: tmp, path: path})
	b.seen[digest], b.dirs[dir] = true, true
	return digest, nil
}

// Sync makes every blob Put so far durable under its final name: the
// files' data is flushed before any is renamed into place (a blob visible
// by its name is always whole, which Put's existence check relies on),
// then the renames are flushed. On failure nothing Put may be referred to;
// the temp files are removed.
func (b *BlobBatch) Sync(ctx context.Context) error {
	defer func() {
		for _, p := range b.pending {
			os.Remove(p.tmp) // fails harmlessly once renamed
		}
		b.pending = nil
		clear(b.dirs)
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sync blobs: %w", err)
	}
	root := filepath.Join(b.s.dataDir, "blobs")
	if len(b.pending) > 1 && canSyncFS {
		if err := syncFS(root); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
	} else {
		for _, p := range b.pending {
			if err := syncFile(p.tmp); err != nil {
				return fmt.Errorf("sync blobs: %w", err)
			}
		}
	}
	for _, p := range b.pending {
		// Concurrent writers of the same content rename identical files
		// over each other, which is fine.
		if err := os.Rename(p.tmp, p.path); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
	}
	if len(b.dirs) > 1 && canSyncFS {
		if err := syncFS(root); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
		return nil
	}
	for d := range b.dirs {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// PutBlobFrom stores what r yields, hashing it as it writes, so memory stays
// flat whatever the size; it is PutBlob for content that arrives as a
// stream (media downloads). More than limit bytes is ErrTooLarge, found as
// soon as the limit is passed: the rest is never read, nothing is kept.
func (s *Store) PutBlobFrom(ctx context.Context, r io.Reader, limit int64) (digest string, size int64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if limit < 0 {
		return "", 0, fmt.Errorf("put blob: negative limit %d", limit)
	}
	root := filepath.Join(s.dataDir, "blobs")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	// The name depends on the content, known only at the end: write to a
	// temp file beside the fan-out directories, then rename it into place.
	f, err := os.CreateTemp(root, ".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, limit+1))
	switch {
	case err != nil:
		f.Close()
		return "", 0, fmt.Errorf("put blob: write: %w", err)
	case size > limit:
		f.Close()
		return "", 0, fmt.Errorf("put blob: more than %d bytes: %w", limit, ErrTooLarge)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", 0, fmt.Errorf("put blob: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("put blob: close: %w", err)
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	path := s.blobPath(digest)
	if _, err := os.Stat(path); err == nil {
		return digest, size, nil // already there
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	// Concurrent writers of the same content rename identical files over
	// each other, which is fine.
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	// The rename is durable only once the directories are synced.
	for _, d := range []string{dir, root} {
		if err := syncDir(d); err != nil {
			return "", 0, fmt.Errorf("put blob: %w", err)
		}
	}
	return digest, size, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// OpenBlob opens a stored blob. A missing blob is ErrNotFound.
func (s *Store) OpenBlob(sha256hex string) (io.ReadCloser, error) {
	if !validDigest(sha256hex) {
		return nil, fmt.Errorf("open blob: %q is not a lower-case hex SHA-256", sha256hex)
	}
	f, err := os.Open(s.blobPath(sha256hex))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", sha256hex, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return f, nil
}

// blobPath fans blobs out over 256 directories: blobs/ab/cdef….
func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dataDir, "blobs", digest[:2], digest[2:])
}

func validDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	for _, c := range d {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
