//go:build !linux

package store

import "errors"

// canSyncFS: without syncfs(2), a BlobBatch syncs each file and directory.
const canSyncFS = false

func syncFS(string) error { return errors.New("syncfs: not available") }
