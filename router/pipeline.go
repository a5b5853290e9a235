// Package router is the pipeline: the only place that decides what an
// inbound message causes. Everything it causes — contact, conversation,
// message, ticket, reply job — commits in one transaction keyed by the
// channel's own message id, so a crash loses nothing and a re-delivery
// doubles nothing.
package router

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// Classifier predicts scope, topic and language.
type Classifier interface {
	Classify(in classify.Input) classify.Result
}

// classifyBytes is how much of a message's text the classifier is given: a
// customer's request is at the top, quoted history and signatures below,
// and the rules' patterns cost time in proportion to what they scan.
const classifyBytes = 4 << 10

// classifyInput is what the classifier sees of in, sent by sender.
func classifyInput(in message.Inbound, sender string) classify.Input {
	return classify.Input{Text: head(in.Text, classifyBytes), Subject: in.Subject, Sender: sender, Email: in.Channel == message.Email}
}

// head is s cut to at most n bytes: at the last line break in the second
// half of them (so no half line reaches the quote stripping), else at a
// rune boundary.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if i := strings.LastIndexByte(s[:n], '\n'); i >= n/2 {
		return s[:i]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// JobInserter inserts River jobs inside our transaction (the outbox).
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// jobQueue collects the jobs of a batch's messages, inserted together at
// the end of the batch's transaction: one River insert instead of one a
// reply, and still exactly once, as they commit or roll back with the rest.
type jobQueue []river.InsertManyParams

func (q *jobQueue) add(args river.JobArgs) { *q = append(*q, river.InsertManyParams{Args: args}) }

// Config tunes the pipeline.
type Config struct {
	TicketPrefix    string        // "EDU"
	AutoReplyWindow time.Duration // one automatic reply per conversation within it; default 24h
	// At most AutoReplyCap automatic replies per contact within
	// AutoReplyCapPeriod, across conversations; defaults 3 and 24h.
	AutoReplyCap       int
	AutoReplyCapPeriod time.Duration
	ConversationWindow time.Duration // SMS/WhatsApp threading, default 7 days
	// ReopenWindow: a reply to a ticket closed less than this ago reopens
	// it (and its assignee is told); a later one opens a new ticket linked
	// to it. Default 7 days.
	ReopenWindow time.Duration
	// InboxURL is the inbox's public address, for links in staff notices;
	// empty leaves them out.
	InboxURL string
	// Surveys signs survey links; with AutomaticSurvey, an answer or a
	// referral that opens no ticket (the conversation is answered only
	// automatically) ends with a link to rate it, for the message.
	Surveys         *tickets.SurveyLinks
	AutomaticSurvey bool
	Now             func() time.Time
}

// Pipeline ingests inbound messages.
type Pipeline struct {
	store *store.Store
	// kn is the bank and the classifier trained on it, swapped whole by
	// SetKnowledge (an operator's reload).
	kn    atomic.Pointer[knowledge]
	jobs  JobInserter
	chans Channels
	cfg   Config
	log   *slog.Logger
}

// New builds a pipeline. chans tells it each channel's reply limits and
// Message-IDs.
func New(st *store.Store, cls Classifier, bank *replies.Bank, jobs JobInserter, chans Channels, cfg Config, log *slog.Logger) *Pipeline {
	if cfg.TicketPrefix == "" {
		cfg.TicketPrefix = "EDU"
	}
	if cfg.AutoReplyWindow <= 0 {
		cfg.AutoReplyWindow = 24 * time.Hour
	}
	if cfg.AutoReplyCap <= 0 {
		cfg.AutoReplyCap = 3
	}
	if cfg.AutoReplyCapPeriod <= 0 {
		cfg.AutoReplyCapPeriod = 24 * time.Hour
	}
	if cfg.ConversationWindow <= 0 {
		cfg.ConversationWindow = 7 * 24 * time.Hour
	}
	if cfg.ReopenWindow <= 0 {
		cfg.ReopenWindow = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{store: st, jobs: jobs, chans: chans, cfg: cfg, log: log}
	p.SetKnowledge(bank, cls)
	return p
}

// knowledge is a bank and the classifier trained on it.
type knowledge struct {
	bank *replies.Bank
	cls  Classifier
}

// SetKnowledge replaces the bank and its classifier (an operator reloaded
// the bank): messages ingested from now on use them. One in flight may see
// the old classification and the new bank's replies; a topic the new bank
// lacks then gets no automatic reply, with the reason.
func (p *Pipeline) SetKnowledge(bank *replies.Bank, cls Classifier) {
	p.kn.Store(&knowledge{bank: bank, cls: cls})
}

// Bank is the knowledge bank in use.
func (p *Pipeline) Bank() *replies.Bank { return p.kn.Load().bank }

// flow is the ticket workflow on the bank's business calendar: taken from
// the bank in use, so a reloaded calendar counts at once.
func (p *Pipeline) flow() tickets.Workflow { return tickets.WorkflowOn(p.Bank()) }

// Result is the full account of one ingest, for tests and the CLI.
type Result struct {
	message.Outcome
	TicketRef  string   `json:"ticket_ref,omitempty"`
	OutboundID int64    `json:"outbound_id,omitempty"`
	Decision   Decision `json:"decision"`
}

// Ingest satisfies the connectors' Ingester interfaces: it returns only
// after the transaction committed (or found the message already there).
func (p *Pipeline) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	r, err := p.Process(ctx, in)
	return r.Outcome, err
}

// Process ingests one message and says what it caused: a batch of one.
func (p *Pipeline) Process(ctx context.Context, in message.Inbound) (Result, error) {
	rs, err := p.IngestBatch(ctx, []message.Inbound{in}, nil)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// IngestBatch ingests ins in one transaction, in order, and then runs
// after (when not nil) in the same transaction: a connector's cursor moves
// with the messages it read, or neither does. Each message is deduplicated
// on its channel's message id and decided exactly as it would be alone,
// seeing the ones before it in the batch. Any failure rolls the whole
// batch back; a caller that wants the good messages in can then ingest
// them one at a time, each a batch of one.
func (p *Pipeline) IngestBatch(ctx context.Context, ins []message.Inbound, after func(ctx context.Context, tx *store.Tx) error) ([]Result, error) {
	return p.ingestPrepared(ctx, ins, nil, after)
}

// ingestPrepared is IngestBatch with the batch's prepareBatch done, or
// pre nil to do it here.
func (p *Pipeline) ingestPrepared(ctx context.Context, ins []message.Inbound, pre []prepared, after func(ctx context.Context, tx *store.Tx) error) ([]Result, error) {
	for _, in := range ins {
		if err := validInbound(in); err != nil {
			return nil, err
		}
	}
	// Blobs are content-addressed. Large ones are files made durable
	// before the transaction: a rollback leaves at most an unreferenced
	// file, never a reference to a missing one. Small ones are rows of the
	// transaction itself.
	bb, blobs, err := p.writeBlobs(ctx, ins)
	if err != nil {
		if len(ins) == 1 {
			return nil, fmt.Errorf("ingest %s message %q: %w", ins[0].Channel, ins[0].ExternalID, err)
		}
		return nil, fmt.Errorf("ingest a batch of %d messages: %w", len(ins), err)
	}
	if pre == nil {
		pre = prepareBatch(p.kn.Load().cls, p.newTermIndexer, ins, runtime.GOMAXPROCS(0))
	}
	res := make([]Result, len(ins))
	failed := -1 // the message whose ingest failed, if one did
	for attempt := 0; ; attempt++ {
		failed = -1
		clear(res)
		err = p.store.InTx(ctx, func(tx *store.Tx) error {
			if err := bb.WriteTx(ctx, tx); err != nil {
				return err
			}
			dds, err := batchDedupe(ctx, tx, ins)
			if err != nil {
				return err
			}
			cl, err := batchContacts(ctx, tx, ins, dds)
			if err != nil {
				return err
			}
			var jobs jobQueue
			var nb numbering
			for i, in := range ins {
				if err := p.ingestTx(ctx, tx, &jobs, &nb, in, pre[i], dds[i], cl, blobs[i].atts, blobs[i].raw, &res[i]); err != nil {
					failed = i
					return err
				}
			}
			if len(jobs) > 0 {
				if _, err := p.jobs.InsertManyTx(ctx, tx.SQL(), jobs); err != nil {
					return fmt.Errorf("enqueue %d jobs: %w", len(jobs), err)
				}
			}
			if after != nil {
				if err := after(ctx, tx); err != nil {
					return err
				}
			}
			// The ticket numbers last: the counter row is held from here
			// to the commit only.
			return nb.finish(ctx, tx)
		})
		// Two deliveries of the same message racing (PostgreSQL, several
		// replicas): the loser hits the unique key; its retry sees a
		// duplicate. A ticket number taken under a rendered reply's feet:
		// the retry renders with the number as it now stands.
		if (errors.Is(err, store.ErrDuplicate) || errors.Is(err, errReferenceMoved)) && attempt < 2 {
			continue
		}
		break
	}
	switch {
	case err != nil && (failed >= 0 || len(ins) == 1):
		in := ins[max(failed, 0)]
		return nil, fmt.Errorf("ingest %s message %q: %w", in.Channel, in.ExternalID, err)
	case err != nil:
		return nil, fmt.Errorf("ingest a batch of %d messages: %w", len(ins), err)
	}
	// One line a message when it came alone or with other webhooks (a
	// Coalescer's batch); a batch with a cursor is a backfill, whose
	// connector logs its progress.
	level := slog.LevelInfo
	if len(ins) > 1 && after != nil {
		level = slog.LevelDebug
	}
	for i, in := range ins {
		r := res[i]
		p.log.Log(ctx, level, "message ingested", "channel", in.Channel, "channel_id", in.ChannelID,
			"message_id", r.MessageID, "duplicate", r.Duplicate, "action", r.Decision.Action,
			"topic", r.Decision.Topic, "ticket", r.TicketRef, "auto_reply", r.OutboundID != 0)
	}
	return res, nil
}

// IngestMailbox ingests a batch read from an IMAP mailbox and moves the
// mailbox's cursor to lastUID in the same transaction (the email
// connector's BatchIngester).
func (p *Pipeline) IngestMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, ins []message.Inbound) ([]message.Outcome, error) {
	return p.ingestMailbox(ctx, channelID, mailbox, uidValidity, lastUID, ins, nil)
}

// PreparedBatch is a batch of messages with the work of their ingest that
// needs no transaction done: PrepareMailbox's result.
type PreparedBatch struct {
	ins []message.Inbound
	pre []prepared
}

// PrepareMailbox classifies a mailbox's batch and makes its search terms,
// for IngestPreparedMailbox: the IMAP source calls it in the goroutine that
// fetched the batch, while the batch before commits. On PostgreSQL it
// leaves a core to the backend the commit waits for: with all of them
// working ahead, that process got less of the machine (scratch first sync
// of 10,000 mails, 2 cores: 1.46 ms a mail against 1.07–1.13 with one
// worker). SQLite's commit is a goroutine of this process, which Go's
// scheduler runs between the workers and while they wait: all cores
// (median of 8 alternating pairs, 0.62 ms a mail against 0.69). A
// classifier reloaded in between is not asked again: the batch keeps the
// answer it had.
func (p *Pipeline) PrepareMailbox(ins []message.Inbound) any {
	workers := runtime.GOMAXPROCS(0)
	if p.store.Dialect() != store.SQLite {
		workers--
	}
	return &PreparedBatch{ins: ins, pre: prepareBatch(p.kn.Load().cls, p.newTermIndexer, ins, workers)}
}

// IngestPreparedMailbox is IngestMailbox for a batch PrepareMailbox made.
func (p *Pipeline) IngestPreparedMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, prepared any) ([]message.Outcome, error) {
	b, ok := prepared.(*PreparedBatch)
	if !ok || b == nil {
		return nil, fmt.Errorf("ingest mailbox %q: %T is not a batch PrepareMailbox made", mailbox, prepared)
	}
	return p.ingestMailbox(ctx, channelID, mailbox, uidValidity, lastUID, b.ins, b.pre)
}

func (p *Pipeline) ingestMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, ins []message.Inbound, pre []prepared) ([]message.Outcome, error) {
	rs, err := p.ingestPrepared(ctx, ins, pre, func(ctx context.Context, tx *store.Tx) error {
		return tx.SaveCursor(ctx, channelID, mailbox, uidValidity, lastUID)
	})
	if err != nil {
		return nil, err
	}
	out := make([]message.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out, nil
}

func validInbound(in message.Inbound) error {
	if in.ChannelID == 0 || in.ExternalID == "" {
		return fmt.Errorf("ingest: message without channel id or external id (channel %d, id %q)", in.ChannelID, in.ExternalID)
	}
	if !in.Channel.Valid() {
		return fmt.Errorf("ingest: unknown channel kind %q", in.Channel)
	}
	for _, r := range in.Routes {
		if r.ChannelID == 0 || !r.Channel.Sends() || r.To.Value == "" {
			return fmt.Errorf("ingest %s message %q: a route needs a sending channel and an address, got %+v", in.Channel, in.ExternalID, r)
		}
	}
	return nil
}

// messageBlobs are the digests of one message's stored attachments ("" for
// one without content) and raw copy.
type messageBlobs struct {
	atts []string
	raw  string
}

// writeBlobs stores the batch's attachments and raw copies as one
// BlobBatch: one flush for all the files among them, before the
// transaction; the batch's WriteTx stores the small ones in it.
func (p *Pipeline) writeBlobs(ctx context.Context, ins []message.Inbound) (*store.BlobBatch, []messageBlobs, error) {
	bb := p.store.NewBlobBatch()
	out := make([]messageBlobs, len(ins))
	for i, in := range ins {
		out[i].atts = make([]string, len(in.Attachments))
		for j, a := range in.Attachments {
			if a.Content == nil {
				continue
			}
			d, err := bb.Put(ctx, a.Content)
			if err != nil {
				return nil, nil, fmt.Errorf("store attachment %q of %q: %w", a.Filename, in.ExternalID, err)
			}
			out[i].atts[j] = d
		}
		if len(in.Raw) > 0 {
			d, err := bb.Put(ctx, in.Raw)
			if err != nil {
				return nil, nil, fmt.Errorf("store raw message %q: %w", in.ExternalID, err)
			}
			out[i].raw = d
		}
	}
	if err := bb.Sync(ctx); err != nil {
		return nil, nil, fmt.Errorf("store blobs: %w", err)
	}
	return bb, out, nil
}

// dedupe is what a batch's look-up said of one message's key: whether it
// answers for the message at all, and if so whether and where the message
// is stored.
type dedupe struct {
	checked, found bool
	ref            store.MessageRef
}

// batchDedupe looks up the keys of a batch of more than one message at
// once (one round trip on PostgreSQL instead of one a message). A key that
// comes again later in the batch is left unchecked there: that message is
// looked up when its turn comes, after the first one's insert.
func batchDedupe(ctx context.Context, tx *store.Tx, ins []message.Inbound) ([]dedupe, error) {
	dds := make([]dedupe, len(ins))
	if len(ins) < 2 {
		return dds, nil
	}
	keys := make([]store.MessageKey, len(ins))
	for i, in := range ins {
		keys[i] = store.MessageKey{ChannelID: in.ChannelID, ExternalID: in.ExternalID}
	}
	found, err := tx.LookupMessages(ctx, keys)
	if err != nil {
		return nil, err
	}
	seen := make(map[store.MessageKey]bool, len(keys))
	for i, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		r, ok := found[k]
		dds[i] = dedupe{checked: true, found: ok, ref: r}
	}
	return dds, nil
}

// sender is who in is from: unreadable mail may have no sender; it is
// still kept, under one placeholder contact per channel.
func sender(in message.Inbound) message.Party {
	if in.From.Value == "" {
		return message.Party{Kind: "unknown", Value: fmt.Sprintf("channel-%d", in.ChannelID), Name: "Unknown sender"}
	}
	return in.From
}

// prepared is what a message's ingest needs that the message alone
// decides: its classification and its search terms.
type prepared struct {
	class classify.Result
	terms []string
}

// prepareBatch classifies a batch's messages (not the quarantined ones)
// and makes their search terms before the transaction, on up to
// GOMAXPROCS goroutines for a large batch: both are pure, so none of it
// need hold the transaction open (on SQLite, the one writer), and a
// backfill's batch uses both cores.
func prepareBatch(cls Classifier, newIndex func() termIndexer, ins []message.Inbound, maxWorkers int) []prepared {
	out := make([]prepared, len(ins))
	one := func(ix termIndexer, i int) {
		if !ins[i].Quarantined {
			out[i].class = cls.Classify(classifyInput(ins[i], sender(ins[i]).Value))
			out[i].terms = ix.Terms(ins[i].Subject, ins[i].Text)
		}
	}
	workers := min(maxWorkers, len(ins)/classifyPerWorker)
	if workers < 2 {
		ix := newIndex()
		for i := range ins {
			one(ix, i)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ix := newIndex() // one a goroutine: it is not for concurrent use
			for i := int(next.Add(1) - 1); i < len(ins); i = int(next.Add(1) - 1) {
				one(ix, i)
			}
		})
	}
	wg.Wait()
	return out
}

// termIndexer makes a batch's search terms (store.TermIndexer), one
// message after another.
type termIndexer interface {
	Terms(texts ...string) []string
}

// classifyPerWorker is how many messages a batch needs per goroutine
// that classifies it: below, a goroutine costs more than it saves.
const classifyPerWorker = 16

func (p *Pipeline) newTermIndexer() termIndexer { return p.store.NewTermIndexer() }

func (p *Pipeline) ingestTx(ctx context.Context, tx *store.Tx, jobs *jobQueue, nb *numbering, in message.Inbound, pre prepared, dd dedupe, cl *contactLookup, blobs []string, rawSHA string, res *Result) error {
	id, convID, found := dd.ref.ID, dd.ref.ConversationID, dd.found
	if !dd.checked {
		var err error
		if id, convID, found, err = tx.LookupMessage(ctx, in.ChannelID, in.ExternalID); err != nil {
			return err
		}
	}
	if found {
		res.Duplicate, res.MessageID, res.ConversationID = true, id, convID
		return nil
	}
	now := p.cfg.Now().UTC()

	from := sender(in)
	ids := senderIdentities(in)

	// Read and render first, write last. Everything the decision and the
	// reply need is read and the reply rendered before anything is written,
	// so a reply that cannot be rendered changes the decision, never whether
	// the message is stored. A new ticket's number is the batch's last
	// write (numbering): until then it shows the number promised.
	// (The classification, pre, was made before the transaction:
	// prepareBatch.)
	contact, err := p.findContact(ctx, tx, cl, ids) // ID 0: someone new
	if err != nil {
		return err
	}
	th, err := p.thread(ctx, tx, in, contact.ID, now)
	if err != nil {
		return err
	}
	nb.shown(&th.ticket) // one an earlier message of the batch opened

	facts := Facts{
		Channel:     in.Channel,
		Flags:       in.Flags,
		Quarantined: in.Quarantined,
		Reason:      in.QuarantineReason,
		ReceivedAt:  in.ReceivedAt,
		Declared:    in.Declared,
		Window:      p.cfg.AutoReplyWindow,
		Cap:         p.cfg.AutoReplyCap,
		CapPeriod:   p.cfg.AutoReplyCapPeriod,
		Now:         now,
	}
	if th.haveTicket {
		facts.OpenTicket = th.ticket.Ref
	}
	if th.haveClosed {
		if th.closed.ClosedAt != nil && now.Sub(*th.closed.ClosedAt) <= p.cfg.ReopenWindow {
			facts.ReopenTicket = th.closed.Ref
		} else {
			facts.FollowsTicket, facts.FollowsTopicID = th.closed.Ref, th.closed.Topic
			if t, ok := p.Bank().Topic(th.closed.Topic); ok {
				facts.FollowsTopic = TopicInfo{Found: true, Scope: string(t.Scope), Actionable: t.Actionable, Department: t.Department}
			}
		}
	}
	facts.CitesForeignTicket = th.foreignRef
	var topic *replies.Topic
	if !in.Quarantined {
		facts.Class = pre.class
		topicID := facts.Class.Topic
		if in.Declared != nil {
			topicID = in.Declared.Topic // the classifier only gives its view
		}
		if t, ok := p.Bank().Topic(topicID); ok {
			topic = t
			facts.Topic = topicInfo(t)
		}
		if contact.ID != 0 && th.conv != 0 {
			last, ok, err := tx.LastAutoReply(ctx, contact.ID, th.conv)
			if err != nil {
				return err
			}
			if ok {
				facts.LastAutoReply = last
				raw, ok, err := tx.LastAutoReplyDecision(ctx, contact.ID, th.conv)
				if err != nil {
					return err
				}
				var prev Decision
				if ok && json.Unmarshal(raw, &prev) == nil {
					facts.LastAutoReplyAsked = prev.Action == ActionAsk
				}
			}
		}
		if contact.ID != 0 {
			if facts.ContactAutoReplies, err = tx.CountAutoReplies(ctx, contact.ID, now.Add(-p.cfg.AutoReplyCapPeriod)); err != nil {
				return err
			}
			if contact.AutoReplyMutedUntil != nil {
				facts.MutedUntil = *contact.AutoReplyMutedUntil
			}
		}
	}
	d := Decide(facts)
	if d.FollowsTicket != "" && (topic == nil || !topic.Actionable) {
		if old, ok := p.Bank().Topic(d.Topic); ok { // the old ticket's
			topic = old
		}
	}
	if d.AutoReply && len(in.Routes) == 0 && !in.Channel.Sends() {
		d.AutoReply = false
		d.Reasons = append(d.Reasons, fmt.Sprintf("no automatic reply: a %s channel cannot send and the message names no route to answer by", in.Channel))
	}

	var draft *replyDraft
	var routed []routeDraft
	if d.AutoReply || hasRouteText(in.Routes) {
		ref := th.ticket.Ref
		if d.CreateTicket {
			// The reference the ticket will most likely get; checked once
			// the number is taken.
			if ref, err = nb.peek(ctx, tx, ticketSeries{p.cfg.TicketPrefix, p.ticketYear(now)}); err != nil {
				return err
			}
		}
		draft = &replyDraft{req: p.replyRequest(in, from, d, topic, ref, now)}
		if len(in.Routes) > 0 {
			// The channel cannot answer: each route gets the reply, rendered
			// for its own channel, or its own text.
			if routed, err = p.renderRoutes(in.Routes, d.AutoReply, draft.req); err != nil {
				p.log.WarnContext(ctx, "automatic reply cannot be rendered; message stored without one",
					"channel", in.Channel, "external_id", in.ExternalID, "kind", draft.req.Kind, "topic", draft.req.TopicID, "err", err)
				d.AutoReply = false
				d.Reasons = append(d.Reasons, fmt.Sprintf("no automatic reply: the %s reply could not be rendered (%v); staff to answer", draft.req.Kind, err))
				routed = textRoutes(in.Routes)
			}
			draft = nil
		} else if draft.reply, err = p.render(in.ChannelID, draft.req); err != nil {
			p.log.WarnContext(ctx, "automatic reply cannot be rendered; message stored without one",
				"channel", in.Channel, "external_id", in.ExternalID, "kind", draft.req.Kind, "topic", draft.req.TopicID, "err", err)
			d.AutoReply = false
			d.Reasons = append(d.Reasons, fmt.Sprintf("no automatic reply: the %s reply could not be rendered (%v); staff to answer", draft.req.Kind, err))
			draft = nil
		}
	}

	// Writes. Someone new with one identity and a new conversation (a
	// backfill's every mail from a new sender, an SMS from a new number):
	// the contact is made in the message's own statement.
	newContact := contact.ID == 0 && len(in.Identities) == 0 && th.conv == 0 && d.MuteUntil.IsZero()
	if !newContact {
		if contact, err = p.keepContact(ctx, tx, contact, from, in.Identities, &d); err != nil {
			return fmt.Errorf("contact: %w", err)
		}
	}
	conv := th.conv
	var newConv *store.Conversation // written with the message, in one statement
	if conv == 0 {
		// Written as its message and ticket would leave it, so the
		// store's triggers need not rewrite it.
		newConv = &store.Conversation{ContactID: contact.ID, ChannelID: in.ChannelID, Subject: in.Subject, Status: "open",
			CitesForeignTicket: th.foreignRef, Topic: d.Topic, Scope: string(d.Scope), Language: contactLanguage(d.Language),
			LastMessageAt: now, CreatedAt: now}
		if d.CreateTicket {
			newConv.Department = topic.Department
		}
	} else if err := tx.TouchConversation(ctx, conv, now); err != nil {
		return err
	}
	if !d.MuteUntil.IsZero() {
		if err := tx.SetContactAutoReplyMute(ctx, contact.ID, &d.MuteUntil); err != nil {
			return err
		}
	}
	if lang := contactLanguage(d.Language); !newContact && contact.Language == "" && lang != "" {
		if err := tx.SetContactLanguage(ctx, contact.ID, lang); err != nil {
			return err
		}
	}
	if len(routed) > 0 {
		d.Reasons = append(d.Reasons, routeReasons(routed)...)
	}
	decisionJSON, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}

	m := store.Message{
		ChannelID:        in.ChannelID,
		ExternalID:       in.ExternalID,
		ConversationID:   conv,
		ContactID:        contact.ID,
		From:             from,
		To:               in.To,
		Subject:          in.Subject,
		Text:             in.Text,
		HTML:             in.HTML,
		TextTruncated:    in.TextTruncated,
		HTMLTruncated:    in.HTMLTruncated,
		HeaderMessageID:  in.MessageID,
		InReplyTo:        in.InReplyTo,
		References:       in.References,
		Flags:            in.Flags,
		Quarantined:      in.Quarantined,
		QuarantineReason: in.QuarantineReason,
		RawSHA256:        rawSHA,
		Language:         string(d.Language),
		Scope:            string(d.Scope),
		Topic:            d.Topic,
		Confidence:       d.Confidence,
		Decision:         decisionJSON,
		SentAt:           in.SentAt,
		ReceivedAt:       orNow(in.ReceivedAt, now),
		CreatedAt:        now,
		Fields:           in.Fields,
		IndexTerms:       pre.terms,
	}
	switch {
	case newContact:
		if contact, err = tx.InsertMessageFromNewContact(ctx, contactLanguage(d.Language), newConv, &m); err != nil {
			return err
		}
		conv = newConv.ID
	case newConv != nil:
		if err := tx.InsertMessageInNewConversation(ctx, newConv, &m); err != nil {
			return err
		}
		conv = newConv.ID
	default:
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return err
		}
	}
	cl.wrote(ids, contact.ID)
	res.MessageID, res.ConversationID, res.Decision = m.ID, conv, d

	fetch := false
	for i, a := range in.Attachments {
		att := store.Attachment{MessageID: m.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, SHA256: blobs[i], URL: a.URL, Descriptor: a.Descriptor, CreatedAt: now}
		if err := tx.InsertAttachment(ctx, &att); err != nil {
			return fmt.Errorf("attachment %q: %w", a.Filename, err)
		}
		fetch = fetch || (att.SHA256 == "" && (att.URL != "" || len(att.Descriptor) > 0))
	}
	if fetch {
		jobs.add(FetchMediaArgs{MessageID: m.ID, ChannelID: in.ChannelID})
	}

	ticket := th.ticket
	switch {
	case d.CreateTicket:
		var linked store.Ticket
		if d.FollowsTicket != "" {
			linked = th.closed
		}
		if ticket, err = p.openTicket(ctx, tx, nb, topic, contact.ID, conv, m.ID, in, now, linked); err != nil {
			return err
		}
		res.TicketID, res.TicketRef = ticket.ID, ticket.Ref
	case d.Action == ActionReopen:
		if err := p.reopen(ctx, tx, th.closed, m, now); err != nil {
			return err
		}
		ticket = th.closed
		res.TicketID, res.TicketRef = ticket.ID, ticket.Ref
	case d.Action == ActionAppend:
		if err := p.appendToTicket(ctx, tx, ticket, m.ID); err != nil {
			return err
		}
		res.TicketID, res.TicketRef = ticket.ID, ticket.Ref
	}

	if draft != nil {
		if draft.req.TicketRef != ticket.Ref {
			// Rendered before the ticket was known (the batch opened it
			// meanwhile): the reply must carry its reference.
			draft.req.TicketRef = ticket.Ref
			if draft.reply, err = p.render(in.ChannelID, draft.req); err != nil {
				return fmt.Errorf("%w: %v", errReferenceMoved, err)
			}
		}
		if ticket.ID == 0 {
			draft.reply = p.withSurvey(in.ChannelID, m.ID, draft.req, draft.reply, now)
		}
		id, err := p.enqueueReply(ctx, tx, jobs, in, from, contact.ID, conv, m.ID, draft.reply, ticket, now)
		if err != nil {
			return err
		}
		res.OutboundID = id
		if nb.isPending(ticket.ID) {
			p.fixReply(nb, ticket.ID, id, ticket.Ref, draft.req, in.Channel == message.Email, in.Subject, func(req replies.Request) (replies.Reply, error) {
				return p.render(in.ChannelID, req)
			})
		}
	}
	for i := range routed {
		r := &routed[i]
		if r.auto && r.req.TicketRef != ticket.Ref {
			r.req.TicketRef = ticket.Ref
			if r.reply, err = p.renderRoute(r.route, r.req); err != nil {
				return fmt.Errorf("%w: %v", errReferenceMoved, err)
			}
		}
		id, err := p.enqueueRoute(ctx, tx, jobs, r, contact.ID, conv, m.ID, ticket, now)
		if err != nil {
			return err
		}
		if res.OutboundID == 0 {
			res.OutboundID = id
		}
		// A route's own text does not show the ticket; by mail its
		// subject does.
		if mail := r.route.Channel == message.Email; nb.isPending(ticket.ID) && (r.auto || mail) {
			reply, route := r.reply, r.route
			render := func(req replies.Request) (replies.Reply, error) { return reply, nil }
			if r.auto {
				render = func(req replies.Request) (replies.Reply, error) { return p.renderRoute(route, req) }
			}
			p.fixReply(nb, ticket.ID, id, ticket.Ref, r.req, mail, "", render)
		}
	}
	if nb.isPending(ticket.ID) {
		p.fixDecision(nb, ticket.ID, ticket.Ref, m, &d, res)
	}
	return nil
}

// fixReply renders again, once the batch has its ticket numbers, a reply
// written showing a pending ticket's provisional reference, shown, if the
// ticket got another. A reply by mail gets its subject again, made of the
// customer's subject (as enqueueReply and enqueueRoute make it).
func (p *Pipeline) fixReply(nb *numbering, ticketID, outboundID int64, shown string, req replies.Request, mail bool, subject string, render func(replies.Request) (replies.Reply, error)) {
	nb.fix(func(ctx context.Context, tx *store.Tx) error {
		ref, _ := nb.ref(ticketID)
		if ref == shown {
			return nil
		}
		req.TicketRef = ref
		reply, err := render(req)
		if err != nil {
			return fmt.Errorf("%w: %v", errReferenceMoved, err)
		}
		c := store.OutboundContent{ID: outboundID, Text: reply.Text}
		if mail {
			c.Subject, c.HTML = replySubject(subject, reply.Subject, ref), reply.HTML
		}
		nb.rewrite(c)
		return nil
	})
}

// fixDecision gives a message that opened or joined a pending ticket the
// ticket's final reference: in its result, and in its decision's reasons
// if another transaction took the number shown.
func (p *Pipeline) fixDecision(nb *numbering, ticketID int64, shown string, m store.Message, d *Decision, res *Result) {
	nb.fix(func(ctx context.Context, tx *store.Tx) error {
		ref, _ := nb.ref(ticketID)
		res.TicketRef = ref
		if ref == shown {
			return nil
		}
		changed := false
		for i, r := range d.Reasons {
			if strings.Contains(r, shown) {
				d.Reasons[i], changed = strings.ReplaceAll(r, shown, ref), true
			}
		}
		if !changed {
			return nil
		}
		res.Decision = *d
		js, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode decision: %w", err)
		}
		return tx.SetMessageClassification(ctx, m.ID, m.Language, m.Scope, m.Topic, m.Confidence, js)
	})
}

// errReferenceMoved: a reply rendered with a ticket's promised reference
// could not be rendered again with the one the ticket got. The transaction
// is retried, promising anew from the counter as it then stands.
var errReferenceMoved = errors.New("ticket reference moved while the reply was rendered")

// replyDraft is an automatic reply rendered before the writes.
type replyDraft struct {
	req   replies.Request
	reply replies.Reply
}

func (p *Pipeline) replyRequest(in message.Inbound, to message.Party, d Decision, topic *replies.Topic, ticketRef string, now time.Time) replies.Request {
	req := replies.Request{
		Language:  string(d.Language),
		Channel:   in.Channel,
		Name:      to.Name,
		Now:       now,
		TicketRef: ticketRef,
	}
	if topic != nil {
		req.TopicID = topic.ID
	}
	switch d.Action {
	case ActionTicket:
		req.Kind = replies.KindAcknowledgement
	case ActionAnswer:
		req.Kind = replies.KindAnswer
	case ActionReferral:
		req.Kind = replies.KindReferral
	case ActionSmallTalk:
		req.Kind = replies.KindSmallTalk
	case ActionAsk:
		req.Kind, req.TopicID, req.Topics = replies.KindChoose, "", d.Candidates
	default:
		req.Kind, req.TopicID = replies.KindFallback, ""
	}
	return req
}

// render renders a reply and fits it to the channel's budget.
func (p *Pipeline) render(channelID int64, req replies.Request) (replies.Reply, error) {
	bank := p.Bank()
	reply, err := bank.Render(req)
	if err != nil {
		return replies.Reply{}, fmt.Errorf("render %s reply: %w", req.Kind, err)
	}
	// Over the channel's budget (SMS segments): the answer plus one link.
	if s, ok := p.chans.Shaper(channelID); ok && !s.FitsBudget(reply.Text) {
		if reply, err = bank.RenderShort(req, s.ShortLimit()); err != nil {
			return replies.Reply{}, fmt.Errorf("render short %s reply: %w", req.Kind, err)
		}
	}
	return reply, nil
}

// withSurvey adds the satisfaction link to an automatic answer or
// referral, when configured, signed for the message it answers (known only
// once the message is stored, hence here and not in render). A reply the
// link would push over its channel's budget (an SMS) goes without it.
func (p *Pipeline) withSurvey(channelID, messageID int64, req replies.Request, reply replies.Reply, now time.Time) replies.Reply {
	if !p.cfg.AutomaticSurvey || p.cfg.Surveys == nil || p.cfg.Surveys.Signer == nil ||
		(req.Kind != replies.KindAnswer && req.Kind != replies.KindReferral) {
		return reply
	}
	url := p.cfg.Surveys.MessageSurveyURL(messageID, now)
	line := tickets.SurveyInvite(req.Language, url)
	text := reply.Text + "\n\n" + line
	if s, ok := p.chans.Shaper(channelID); ok && !s.FitsBudget(text) {
		return reply
	}
	reply.Text = text
	if reply.HTML != "" {
		reply.HTML = tickets.SurveyInviteHTML(reply.HTML, req.Language, url)
	}
	return reply
}

// thread is where a message belongs, as read before any write.
type thread struct {
	conv       int64        // 0: a new conversation
	ticket     store.Ticket // the open ticket it belongs to, if haveTicket
	haveTicket bool
	// closed is a closed ticket the message answers, if haveClosed: it is
	// reopened or followed by a linked ticket.
	closed     store.Ticket
	haveClosed bool
	// foreignRef is another contact's ticket that the message cites and
	// nothing else ties it to: it is not bound to it.
	foreignRef string
}

// thread finds the message's conversation and ticket. contactID is 0 for a
// sender not seen before.
//
// Email headers come first: In-Reply-To or References naming a Message-ID
// of the conversation (the customer's or one of our replies) shows the
// sender saw the thread. A ticket reference is no such proof — references
// are sequential and short — so one binds the message only when the ticket
// is the sender's own, or the headers lead into that ticket's conversation;
// of several references, the first that does. Otherwise an SMS or WhatsApp
// message joins the contact's recent open conversation on its channel.
func (p *Pipeline) thread(ctx context.Context, tx *store.Tx, in message.Inbound, contactID int64, now time.Time) (thread, error) {
	var th thread
	if in.Declared != nil {
		// A form submission or a logged call is a request of its own, even
		// when it quotes a ticket reference.
		return th, nil
	}
	var byHeaders int64
	if in.Channel == message.Email {
		ids := nonEmpty(append([]string{in.InReplyTo}, in.References...))
		var err error
		if byHeaders, _, err = tx.ConversationByHeaderIDs(ctx, ids); err != nil {
			return th, err
		}
	}
	for _, ref := range tickets.FindRefs(in.Subject+" "+firstLine(in.Text), p.cfg.TicketPrefix) {
		t, ok, err := tx.TicketByRef(ctx, ref)
		if err != nil {
			return th, err
		}
		if !ok {
			continue
		}
		own := contactID != 0 && t.ContactID == contactID
		inThread := byHeaders != 0 && t.ConversationID == byHeaders
		switch {
		case inThread || (own && byHeaders == 0):
			th.ticket, th.haveTicket = t, true
		case !own && th.foreignRef == "":
			th.foreignRef = ref
		}
		if th.haveTicket {
			th.foreignRef = ""
			break
		}
	}
	var err error
	switch {
	case th.haveTicket && th.ticket.ConversationID != 0:
		th.conv = th.ticket.ConversationID
	case byHeaders != 0:
		th.conv = byHeaders
	case (in.Channel == message.SMS || in.Channel == message.WhatsApp) && contactID != 0:
		if th.conv, _, err = tx.OpenConversation(ctx, contactID, in.ChannelID, now.Add(-p.cfg.ConversationWindow)); err != nil {
			return th, err
		}
		if th.conv == 0 {
			// The conversation was closed with its ticket: a reply within
			// the reopen window goes back to it.
			if th.closed, th.haveClosed, err = tx.RecentlyClosedTicket(ctx, contactID, in.ChannelID, now.Add(-p.cfg.ReopenWindow)); err != nil {
				return th, err
			}
			th.conv = th.closed.ConversationID
		}
	}
	if th.haveTicket && th.ticket.Status == string(tickets.Closed) {
		th.closed, th.haveClosed = th.ticket, true
		th.ticket, th.haveTicket = store.Ticket{}, false
	}
	if !th.haveTicket && th.conv != 0 {
		if th.ticket, th.haveTicket, err = tx.TicketForConversation(ctx, th.conv); err != nil {
			return th, err
		}
	}
	if !th.haveTicket && !th.haveClosed && th.conv != 0 {
		latest, ok, err := tx.LatestTicket(ctx, th.conv)
		if err != nil {
			return th, err
		}
		if ok && latest.Status == string(tickets.Closed) {
			th.closed, th.haveClosed = latest, true
		}
	}
	if th.haveTicket {
		th.closed, th.haveClosed = store.Ticket{}, false
	}
	return th, nil
}

func (p *Pipeline) openTicket(ctx context.Context, tx *store.Tx, nb *numbering, topic *replies.Topic, contactID, conv, messageID int64, in message.Inbound, now time.Time, linked store.Ticket) (store.Ticket, error) {
	t := store.Ticket{
		Prefix:         p.cfg.TicketPrefix,
		Year:           p.ticketYear(now),
		ConversationID: conv,
		ContactID:      contactID,
		Topic:          topic.ID,
		Department:     topic.Department,
		Status:         string(tickets.Open),
		Subject:        ticketSubject(in),
		LinkedTicketID: linked.ID,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	// Due times in the bank's working time.
	p.flow().StartClocks(&t, topic.SLAText, topic.FirstResponseText)
	if err := nb.open(ctx, tx, &t, messageID); err != nil {
		return store.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	if linked.ID != 0 {
		if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventLinked, Actor: "customer",
			Note: "follows " + linked.Ref, CreatedAt: now}); err != nil {
			return store.Ticket{}, err
		}
		// The old ticket's "followed by" names the new one's number.
		nb.followedBy(t.ID, linked, now)
	}
	// The catalogue: routed to the topic's department and assigned to its
	// head at once.
	head, ok, err := nb.head(ctx, tx, t.Department)
	if err != nil {
		return store.Ticket{}, err
	}
	if ok {
		if err := tx.SetAssignee(ctx, conv, head.ID); err != nil {
			return store.Ticket{}, err
		}
		if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventAssign, Actor: "system",
			Note: "assigned to " + head.Email + " (head of " + t.Department + ")", CreatedAt: now}); err != nil {
			return store.Ticket{}, err
		}
	}
	return t, nil
}

// reopen reopens a ticket the customer answered within the reopen window
// and tells its assignee (the conversation's) by mail.
func (p *Pipeline) reopen(ctx context.Context, tx *store.Tx, t store.Ticket, m store.Message, now time.Time) error {
	if _, err := p.flow().Move(ctx, tx, t.ID, tickets.Open, tickets.MoveOpts{Actor: "customer", At: now,
		Note: fmt.Sprintf("reopened by customer message #%d", m.ID)}); err != nil {
		return fmt.Errorf("reopen ticket %s: %w", t.Ref, err)
	}
	c, err := tx.Conversation(ctx, t.ConversationID)
	if err != nil {
		return err
	}
	assignee, err := tx.ConversationAssignee(ctx, c.ID)
	if err != nil || assignee == 0 {
		return err
	}
	email, lang, active, err := tx.UserEmail(ctx, assignee)
	if err != nil || !active {
		return err
	}
	subject, body := tickets.ReopenNotice(lang, p.cfg.InboxURL, t, m.Text)
	_, err = tickets.QueueMail(ctx, tx, p.jobs, &store.StaffMail{
		Key: fmt.Sprintf("reopen:%d:%d", t.ID, m.ID), To: email, Subject: subject, Text: body, CreatedAt: now,
	})
	return err
}

// ticketYear is the year a ticket opened at now is numbered in: the
// bank's, in its time zone, so a request on the first night of January in
// Riyadh is not numbered in last year's series.
func (p *Pipeline) ticketYear(now time.Time) int {
	if cal := p.Bank().Calendar(); cal != nil && cal.Location() != nil {
		return now.In(cal.Location()).Year()
	}
	return now.Year()
}

func (p *Pipeline) appendToTicket(ctx context.Context, tx *store.Tx, t store.Ticket, messageID int64) error {
	if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventMessage, Actor: "customer", Note: fmt.Sprintf("customer message #%d", messageID)}); err != nil {
		return err
	}
	if t.Status != string(tickets.Pending) || t.WaitingOn != store.WaitingOnCustomer {
		return nil
	}
	// The customer answered: the ticket goes back to where it waited from,
	// and its clock runs again.
	back, err := tx.LastMoveInto(ctx, t.ID, string(tickets.Pending))
	if err != nil {
		return err
	}
	to := tickets.Status(back)
	if tickets.CanMove(tickets.Pending, to) != nil {
		to = tickets.Open
	}
	_, err = p.flow().Move(ctx, tx, t.ID, to, tickets.MoveOpts{Actor: "customer", At: p.cfg.Now(), Note: fmt.Sprintf("the customer answered (message #%d)", messageID)})
	return err
}

func (p *Pipeline) enqueueReply(ctx context.Context, tx *store.Tx, jobs *jobQueue, in message.Inbound, to message.Party, contactID, conv, msgID int64, reply replies.Reply, ticket store.Ticket, now time.Time) (int64, error) {
	o := store.Outbound{
		ChannelID:          in.ChannelID,
		ConversationID:     conv,
		InReplyToMessageID: msgID,
		TicketID:           ticket.ID,
		ContactID:          contactID,
		To:                 to,
		Text:               reply.Text,
		Auto:               true,
		State:              message.StateQueued,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	if in.Channel == message.Email {
		o.HTML = reply.HTML
		o.Subject = replySubject(in.Subject, reply.Subject, ticket.Ref)
		// Chosen now and stored, so every retry of the send carries the
		// same id and the customer's client threads (and dedupes) on it.
		o.HeaderMessageID = p.chans.NewMessageID(in.ChannelID)
		o.InReplyTo = in.MessageID
		o.References = nonEmpty(append(append([]string{}, in.References...), in.MessageID))
	}
	if err := tx.InsertOutbound(ctx, &o); err != nil {
		return 0, fmt.Errorf("outbound: %w", err)
	}
	jobs.add(SendArgs{OutboundID: o.ID, ChannelID: o.ChannelID})
	return o.ID, nil
}

// replySubject answers a subject the way mail clients do, "Re: [#REF] …",
// without doubling "Re:" or the reference.
func replySubject(subject, fallback, ref string) string {
	s := strings.TrimSpace(subject)
	if s == "" {
		return tickets.Subject(fallback, ref)
	}
	for _, p := range []string{"re:", "رد:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = strings.TrimSpace(s[len(p):])
		}
	}
	return "Re: " + tickets.Subject(s, ref)
}

func ticketSubject(in message.Inbound) string {
	if s := strings.TrimSpace(in.Subject); s != "" {
		return s
	}
	s := firstLine(in.Text)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC()
}
