package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: syncfs(2) flushes a whole file system in one call, which is
// how a BlobBatch of many files makes them durable with one wait.
const canSyncFS = true

// syncFS flushes the file system holding path (data and metadata) and
// reports a writeback error on it (Linux 5.8+).
func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}
