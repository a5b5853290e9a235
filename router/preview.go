package router

import (
	"context"
	"fmt"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

func topicInfo(t *replies.Topic) TopicInfo {
	return TopicInfo{Found: true, Kind: string(t.Kind), Scope: string(t.Scope), Actionable: t.Actionable, Department: t.Department}
}

// Preview is what the pipeline would do with a message from someone it has
// never heard from, without storing anything: the operator's "try a
// message".
type Preview struct {
	Class    classify.Result `json:"classification"`
	Decision Decision        `json:"decision"`
	// Reply is the automatic reply as the customer would get it on the
	// channel (cut to an SMS channel's budget); nil when none would go out.
	Reply *replies.Reply `json:"reply,omitempty"`
	// ReplyError says why a reply the decision called for could not be
	// rendered (the message would be stored without one).
	ReplyError string `json:"reply_error,omitempty"`
}

// Preview classifies and decides in.Text (and in.Subject) as the pipeline
// does for a first message on in.ChannelID (of kind in.Channel), and
// renders the reply. A ticket it would open is shown with the reference it
// would get now.
func (p *Pipeline) Preview(ctx context.Context, in message.Inbound) (Preview, error) {
	if !in.Channel.Valid() {
		return Preview{}, fmt.Errorf("preview: unknown channel kind %q", in.Channel)
	}
	kn := p.kn.Load()
	now := p.cfg.Now().UTC()
	facts := Facts{Channel: in.Channel, Flags: in.Flags, Window: p.cfg.AutoReplyWindow, Cap: p.cfg.AutoReplyCap,
		CapPeriod: p.cfg.AutoReplyCapPeriod, Now: now}
	facts.Class = kn.cls.Classify(classifyInput(in, in.From.Value))
	topic, ok := kn.bank.Topic(facts.Class.Topic)
	if ok {
		facts.Topic = topicInfo(topic)
	} else {
		topic = nil
	}
	pv := Preview{Class: facts.Class, Decision: Decide(facts)}
	if !pv.Decision.AutoReply {
		return pv, nil
	}
	ref := ""
	if pv.Decision.CreateTicket {
		year := p.ticketYear(now)
		// Read in a transaction of its own, which writes nothing.
		err := p.store.InTx(ctx, func(tx *store.Tx) error {
			n, err := tx.PeekTicketNumber(ctx, p.cfg.TicketPrefix, year)
			ref = store.TicketRef(p.cfg.TicketPrefix, year, n)
			return err
		})
		if err != nil {
			return Preview{}, fmt.Errorf("preview: %w", err)
		}
	}
	reply, err := p.render(in.ChannelID, p.replyRequest(in, in.From, pv.Decision, topic, ref, now))
	if err != nil {
		pv.ReplyError = err.Error()
		return pv, nil
	}
	pv.Reply = &reply
	return pv, nil
}
