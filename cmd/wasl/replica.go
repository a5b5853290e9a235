package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// replicaFile, in the data directory, holds the replica's name and is
// locked by the process serving from that directory.
const replicaFile = "replica"

// errLockHeld is lockFile's answer when another process holds the lock.
var errLockHeld = errors.New("locked by another process")

// replica is who this serving process is among the gateway's replicas:
// the data directory it owns (its SMS spool is there) and, within it, this
// process. The directory is locked for the life of the process, so the
// replica's name is one process's at a time: a restarted gateway may take
// its own leases back at once (store.LeaseHolder), since their holder can
// only be its dead predecessor.
type replica struct {
	holder store.LeaseHolder
	file   *os.File // holds the lock; nil where locks are not supported
}

// lockReplica locks dataDir's replica file, naming the replica on first
// use (host name and a random part, so that a copied data directory on
// another host is another replica), and returns this process's identity.
// process names this process (newProcessID). A second process on the same
// directory is refused: it would share the spool and the leases.
func lockReplica(dataDir, process string) (*replica, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dataDir, replicaFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("replica file: %w", err)
	}
	switch err := lockFile(f); {
	case errors.Is(err, errLockHeld):
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another wasl serve: give each replica its own", dataDir)
	case errors.Is(err, errors.ErrUnsupported):
		// No lock, so no name that outlives the process: leases wait
		// for their expiry after a restart.
		f.Close()
		return &replica{holder: store.LeaseHolder{Replica: process, Process: process}}, nil
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("replica file: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name == "" {
		name = hostLabel() + "-" + randomHex(4)
		if _, err := f.WriteAt([]byte(name+"\n"), 0); err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("replica file: %w", err)
		}
	}
	return &replica{holder: store.LeaseHolder{Replica: name, Process: name + "/" + process}, file: f}, nil
}

// close lets the directory go (the kernel does it anyway when the process
// dies).
func (r *replica) close() {
	if r.file != nil {
		r.file.Close()
	}
}

// newProcessID names one process: host, start time and a random part. It
// is River's client id too, so it must be unique among the replicas.
func newProcessID() string {
	return hostLabel() + "_" + time.Now().UTC().Format("20060102T150405") + "_" + randomHex(3)
}

func hostLabel() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, h)
	if h == "" {
		h = "host"
	}
	return h[:min(len(h), 40)]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
