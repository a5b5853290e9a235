package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// This file stands in for the lease supervisor of the replicas work (one
// replica runs everything); when that lands, liveChannels takes its
// supervisor as the leaseRunner and this file goes.

// replicaName names this process in the channel_status rows.
func replicaName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "wasl"
	}
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

// localLeases runs every connector here, without a lease: one replica.
// TODO(replicas): replaced by the lease supervisor when it lands.
type localLeases struct {
	log     *slog.Logger
	mu      sync.Mutex
	running map[string]*localRun
}

type localRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newLocalLeases(log *slog.Logger) *localLeases {
	return &localLeases{log: log, running: map[string]*localRun{}}
}

func (s *localLeases) Start(ctx context.Context, name string, r runner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[name]; ok {
		return errors.New("already running: " + name)
	}
	ctx, cancel := context.WithCancel(ctx)
	lr := &localRun{cancel: cancel, done: make(chan struct{})}
	s.running[name] = lr
	go func() {
		defer close(lr.done)
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("connector ended", "lease", name, "err", err)
		}
	}()
	return nil
}

func (s *localLeases) Stop(name string) {
	s.mu.Lock()
	lr := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if lr != nil {
		lr.cancel()
		<-lr.done
	}
}

func (s *localLeases) Holds(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.running[name]
	return ok
}

// leaseName is the lease of a channel's connector.
func leaseName(channelID int64) string { return fmt.Sprintf("channel:%d", channelID) }
