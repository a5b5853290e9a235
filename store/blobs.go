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
	digest := hex.EncodeToString(sum[:])
	path := s.blobPath(digest)
	if _, err := os.Stat(path); err == nil {
		return digest, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", fmt.Errorf("put blob: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("put blob: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("put blob: close: %w", err)
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	// Concurrent writers of the same content rename identical files over
	// each other, which is fine.
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return digest, nil
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
