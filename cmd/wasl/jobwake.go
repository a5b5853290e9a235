package main

import (
	"context"
	"database/sql"
	"slices"
	"sync/atomic"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivershared/baseservice"
	"github.com/riverqueue/river/rivershared/riverpilot"
	"github.com/riverqueue/river/rivertype"
)

// River runs poll-only here (riverdatabasesql has no LISTEN, SQLite no
// NOTIFY at all), so a job inserted in an ingest transaction would wait for
// the next poll: that wait was most of a reply's latency. River wakes its
// own producers at once after a job is inserted outside a transaction; for
// one inserted inside ours the moment to do so is our commit, which River
// cannot see. jobWaker is the way in: River hands a driver's pilot the hook
// it uses itself (PilotInitParams.NotifyNonTxJobInsert, "a job has become
// available and the transaction that committed it has finished"), and
// wakingInserter calls it from store.AfterCommit. The wake-up is a local,
// debounced signal (FetchCooldown); the poll stays as the safety net and
// for jobs other replicas insert. If River stopped offering the hook, jobs
// would still run, a poll later.

// jobWaker is the River driver on the store's pool with a pilot that keeps
// the client's wake-up hook.
type jobWaker struct {
	riverdriver.Driver[*sql.Tx]
	pilot *wakePilot
}

func newJobWaker(d riverdriver.Driver[*sql.Tx]) *jobWaker {
	return &jobWaker{Driver: d, pilot: &wakePilot{}}
}

// SupportsListener is false: the clients are poll-only, and River wakes
// its producers in process only for a driver without a listener (SQLite's
// claims one).
func (*jobWaker) SupportsListener() bool { return false }

// SupportsListenNotify is false so River's insert issues no pg_notify in
// every ingest transaction: no replica listens (PollOnly), and the
// wake-up is in process.
func (*jobWaker) SupportsListenNotify() bool { return false }

// PluginInit and PluginPilot make River use the pilot (River's plugin
// interface for drivers).
func (*jobWaker) PluginInit(*baseservice.Archetype) {}

func (w *jobWaker) PluginPilot() riverpilot.Pilot { return w.pilot }

// wake has this process's producers of the queues fetch now.
func (w *jobWaker) wake(ctx context.Context, queues ...string) {
	notify := w.pilot.notify.Load()
	if notify == nil {
		return
	}
	res := make([]*rivertype.JobInsertResult, len(queues))
	for i, q := range queues {
		res[i] = &rivertype.JobInsertResult{Job: &rivertype.JobRow{Queue: q}}
	}
	(*notify)(ctx, res)
}

// hooked reports whether River handed over its wake-up hook.
func (w *jobWaker) hooked() bool { return w.pilot.notify.Load() != nil }

// wakePilot is River's standard pilot, keeping the wake-up hook.
type wakePilot struct {
	riverpilot.StandardPilot
	notify atomic.Pointer[func(context.Context, []*rivertype.JobInsertResult)]
}

func (p *wakePilot) PilotInit(a *baseservice.Archetype, params *riverpilot.PilotInitParams) {
	p.StandardPilot.PilotInit(a, params)
	if f := params.NotifyNonTxJobInsert; f != nil {
		p.notify.Store(&f)
	}
}

// afterCommitter is what wakingInserter needs of the store.
type afterCommitter interface {
	AfterCommit(tx *sql.Tx, fn func()) bool
}

// jobClient is what wakingInserter needs of River's client.
type jobClient interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// wakingInserter inserts jobs in the caller's transaction, like River's
// client, and wakes the job's queue once that transaction commits. A job
// scheduled for later needs no wake-up.
type wakingInserter struct {
	jobs   jobClient
	store  afterCommitter
	waker  *jobWaker
	wakeUp context.Context // the wake-up outlives the request that inserted
}

func (w *wakingInserter) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := w.jobs.InsertTx(ctx, tx, args, opts)
	if err != nil || res.UniqueSkippedAsDuplicate || res.Job.State != rivertype.JobStateAvailable {
		return res, err
	}
	queue := res.Job.Queue
	w.store.AfterCommit(tx, func() { w.waker.wake(w.wakeUp, queue) })
	return res, nil
}

// InsertManyTx is InsertTx for a batch (an IMAP batch's replies): one
// insert, and one wake-up per queue that got a job to run now.
func (w *wakingInserter) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	res, err := w.jobs.InsertManyTx(ctx, tx, params)
	if err != nil {
		return res, err
	}
	var queues []string
	for _, r := range res {
		if r.UniqueSkippedAsDuplicate || r.Job.State != rivertype.JobStateAvailable || slices.Contains(queues, r.Job.Queue) {
			continue
		}
		queues = append(queues, r.Job.Queue)
	}
	if len(queues) > 0 {
		w.store.AfterCommit(tx, func() { w.waker.wake(w.wakeUp, queues...) })
	}
	return res, nil
}
