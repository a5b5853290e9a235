package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"
)

// ErrTooLarge is PutBlobFrom's error for content over its limit.
var ErrTooLarge = errors.New("content over the size limit")

// InlineBlobMax is the largest blob a BlobBatch keeps in the database
// (table blob_data, written in the transaction that refers to it) rather
// than as a file: the raw copy of nearly every mail and SMS, and small
// attachments. Such a blob costs a row in a commit that happens anyway
// instead of a file, a directory entry and their flushes; larger ones stay
// files, which keep the database small and stream.
const InlineBlobMax = 64 << 10

// PutBlob stores data as a file under its SHA-256 and returns the hex
// digest. Call it before the transaction that refers to the blob: a blob
// nothing refers to is harmless, a reference to a missing blob is not.
// Storing the same bytes again is a no-op. The file appears whole or not at
// all (temp file, fsync, rename).
func (s *Store) PutBlob(ctx context.Context, data []byte) (string, error) {
	b := s.NewBlobBatch()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	digest, err := b.putFile(blobDigest(data), data)
	if err != nil {
		return "", err
	}
	if err := b.Sync(ctx); err != nil {
		return "", err
	}
	return digest, nil
}

// BlobBatch stores many blobs and makes them durable together: Put each,
// then Sync once before the transaction that refers to them, and WriteTx
// in that transaction. A small blob (up to InlineBlobMax) is written by
// WriteTx, durable with the commit. A larger one costs a file write; the
// batch costs one flush of the files' data and one of their names (syncfs
// on Linux when it holds more than one file), instead of a file and a
// directory fsync per blob. Until Sync returns, a Put digest must not be
// committed anywhere, nor without WriteTx in the same transaction. Not for
// concurrent use.
type BlobBatch struct {
	s       *Store
	pending []pendingBlob   // written under a temp name, not yet durable
	inline  []inlineBlob    // for WriteTx
	seen    map[string]bool // digests Put in this batch
	dirs    map[string]bool // directories whose entries Sync must flush
	scratch []byte          // encodeInline's
}

type pendingBlob struct{ tmp, path string }

type inlineBlob struct {
	digest string
	data   []byte // as stored: encoded with codec
	codec  string // "" (as it is) or "s2"
}

// blobCodecS2 marks a blob_data row kept s2-compressed (migration 00028).
const blobCodecS2 = "s2"

// encodeInline is how a small blob is stored: on SQLite, s2-compressed
// when that saves an eighth or more; every byte there is written twice
// (WAL, then checkpoint), and s2 costs ~0.5 ms for 1 MB of mail. Not on
// PostgreSQL, whose TOAST compresses the column in the server (lz4).
func (b *BlobBatch) encodeInline(data []byte) ([]byte, string) {
	if b.s.dialect == Postgres {
		return data, ""
	}
	var stored []byte
	stored, b.scratch = encodeSQLiteBlob(b.scratch, data)
	if len(stored) == len(data) {
		return data, ""
	}
	// A copy of its own size: the batch keeps it until its commit, and
	// a first sync has several batches in flight.
	return bytes.Clone(stored), blobCodecS2
}

// EncodeSQLiteBlob is a blob_data row's data and codec for data as the
// store writes it on SQLite (for the load benchmark's replay).
func EncodeSQLiteBlob(data []byte) ([]byte, string) {
	stored, _ := encodeSQLiteBlob(nil, data)
	if len(stored) == len(data) {
		return data, ""
	}
	return stored, blobCodecS2
}

// encodeSQLiteBlob is data s2-compressed in scratch (grown as needed and
// returned), or data itself when that would save less than an eighth.
func encodeSQLiteBlob(scratch, data []byte) (stored, grown []byte) {
	if len(data) < 64 {
		return data, scratch
	}
	if n := s2.MaxEncodedLen(len(data)); cap(scratch) < n {
		scratch = make([]byte, n)
	}
	enc := s2.Encode(scratch[:cap(scratch)], data)
	if len(enc) > len(data)-len(data)/8 {
		return data, scratch
	}
	return enc, scratch
}

// NewBlobBatch starts a batch of blob writes.
func (s *Store) NewBlobBatch() *BlobBatch {
	return &BlobBatch{s: s, seen: map[string]bool{}, dirs: map[string]bool{}}
}

func blobDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Put returns data's digest and keeps it for WriteTx when it is small, or
// writes it under a temp name beside its final place, which Sync makes
// durable and moves into place.
func (b *BlobBatch) Put(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	digest := blobDigest(data)
	if b.seen[digest] {
		return digest, nil
	}
	if len(data) <= InlineBlobMax {
		enc, codec := b.encodeInline(data)
		b.inline = append(b.inline, inlineBlob{digest: digest, data: enc, codec: codec})
		b.seen[digest] = true
		return digest, nil
	}
	return b.putFile(digest, data)
}

// WriteTx writes the batch's small blobs in tx, the transaction that
// refers to them; one already stored is left as it is (same digest, same
// bytes). It may run again in a retried transaction.
func (b *BlobBatch) WriteTx(ctx context.Context, tx *Tx) error {
	if len(b.inline) == 0 {
		return nil
	}
	if tx.s.dialect == Postgres {
		// One statement for the whole batch: one round trip.
		digests := make([]string, len(b.inline))
		data := make([][]byte, len(b.inline))
		for i, bl := range b.inline {
			digests[i], data[i] = bl.digest, bl.data
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO blob_data (sha256, data)
			SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (sha256) DO NOTHING`, digests, data); err != nil {
			return fmt.Errorf("store %d blobs: %w", len(b.inline), err)
		}
		return nil
	}
	for _, bl := range b.inline {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO blob_data (sha256, data, codec) VALUES ($1, $2, $3)
			ON CONFLICT (sha256) DO NOTHING`, bl.digest, bl.data, bl.codec); err != nil {
			return fmt.Errorf("store blob %s: %w", bl.digest, err)
		}
	}
	return nil
}

func (b *BlobBatch) putFile(digest string, data []byte) (string, error) {
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

// OpenBlob opens a stored blob: the database's copy of a small one, else
// its file. A missing blob is ErrNotFound.
func (s *Store) OpenBlob(ctx context.Context, sha256hex string) (io.ReadCloser, error) {
	if !validDigest(sha256hex) {
		return nil, fmt.Errorf("open blob: %q is not a lower-case hex SHA-256", sha256hex)
	}
	var data []byte
	var codec string
	err := s.db.QueryRowContext(ctx, `SELECT data, codec FROM blob_data WHERE sha256 = $1`, sha256hex).Scan(&data, &codec)
	switch {
	case err == nil:
		switch codec {
		case "":
		case blobCodecS2:
			if data, err = s2.Decode(nil, data); err != nil {
				return nil, fmt.Errorf("open blob %s: decode s2: %w", sha256hex, err)
			}
		default:
			return nil, fmt.Errorf("open blob %s: unknown codec %q", sha256hex, codec)
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("open blob %s: %w", sha256hex, err)
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
