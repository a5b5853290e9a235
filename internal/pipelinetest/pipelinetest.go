// Package pipelinetest gives the tests of the packages that feed the
// router (forms, calls) a real, migrated store on either dialect and the
// real pipeline on it, with the university's bank. The router's own tests
// keep their setup: they are inside package router.
package pipelinetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// Backends are the two store dialects by name, each giving a test its
// database: "" for SQLite, else a PostgreSQL URL.
func Backends() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return dbtest.PostgresURL(t, store.MigrateAt) },
	}
}

// Bank is the university's bank (configs/bank.yaml), for a test that runs
// in a package folder one level below the repository's root.
func Bank(t testing.TB) *replies.Bank {
	t.Helper()
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return bank
}

// Channel is a channel to create; its id is written to ID.
type Channel struct {
	Name string
	Kind message.Kind
	ID   *int64
}

// Env is the store and the pipeline on it.
type Env struct {
	Store    *store.Store
	Pipeline *router.Pipeline
}

// New opens a copy of the migrated database (dsn as Backends gives it),
// creates chans, and starts a pipeline on bank with cfg. Its classifier
// recognises nothing, since forms and calls declare their topic, and its
// channels have no reply shapers or Message-IDs.
func New(t testing.TB, dsn string, bank *replies.Bank, cfg router.Config, chans ...Channel) *Env {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	if dsn == "" {
		dir = dbtest.SQLiteDir(t, store.MigrateAt)
	}
	st, err := store.Open(ctx, dsn, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		ch := store.Channel{Name: c.Name, Kind: c.Kind, Enabled: true}
		if err := st.UpsertChannel(ctx, &ch); err != nil {
			t.Fatal(err)
		}
		*c.ID = ch.ID
	}
	return &Env{Store: st, Pipeline: router.New(st, noTopic{}, bank, jobs, noChannels{}, cfg, quiet)}
}

type noTopic struct{}

func (noTopic) Classify(classify.Input) classify.Result { return classify.Result{} }

type noChannels struct{}

func (noChannels) Shaper(int64) (router.ReplyShaper, bool) { return nil, false }
func (noChannels) NewMessageID(int64) string               { return "" }
