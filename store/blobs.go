package store

import (
	"bytes"
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
// rename).
func (s *Store) PutBlob(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	sum := sha256.Sum256(data)
	if _, err := os.Stat(s.blobPath(hex.EncodeToString(sum[:]))); err == nil {
		return hex.EncodeToString(sum[:]), nil
	}
	digest, _, err := s.PutBlobFrom(ctx, bytes.NewReader(data), int64(len(data)))
	return digest, err
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
