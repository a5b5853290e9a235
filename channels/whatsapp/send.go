package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// OutboundMessageID is the WhatsApp message id Send uses for outbound
// message outID: derived, not random, so a retried job re-sends the same id
// and WhatsApp keeps one copy. It has the shape of WhatsApp Web's ids
// ("3EB0" and 18 upper-case hex digits).
func OutboundMessageID(channelID, outID int64) types.MessageID {
	sum := sha256.Sum256(fmt.Appendf(nil, "wasl/whatsapp/%d/%d", channelID, outID))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// Send sends out.Text to out.To (a phone number). Not being connected is a
// retryable error; a bad number, an empty text or a number that is not on
// WhatsApp is permanent (channels.Permanent).
func (c *Channel) Send(ctx context.Context, out message.Outbound) (message.Delivery, error) {
	fail := func(err error) (message.Delivery, error) {
		return message.Delivery{State: message.StateFailed}, channels.Permanent(fmt.Errorf("whatsapp channel %q: outbound %d: %w", c.cfg.Name, out.ID, err))
	}
	retry := func(err error) (message.Delivery, error) {
		return message.Delivery{State: message.StateQueued}, fmt.Errorf("whatsapp channel %q: outbound %d: %w", c.cfg.Name, out.ID, err)
	}
	if out.ID == 0 {
		return fail(errors.New("no outbound id to derive an idempotent message id from"))
	}
	if out.To.Kind != message.IdentityPhone {
		return fail(fmt.Errorf("recipient is a %s, not a phone number", out.To.Kind))
	}
	phone, err := message.NormalizePhone(out.To.Value, c.cfg.DefaultRegion)
	if err != nil {
		return fail(err)
	}
	text := strings.TrimSpace(out.Text)
	if text == "" {
		return fail(errors.New("empty text"))
	}

	cli := c.current()
	if cli == nil || !cli.IsConnected() || !cli.IsLoggedIn() {
		return retry(ErrNotConnected)
	}
	to := types.NewJID(strings.TrimPrefix(phone, "+"), types.DefaultUserServer)
	id := OutboundMessageID(c.cfg.ChannelID, out.ID)
	resp, err := cli.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)}, whatsmeow.SendRequestExtra{ID: id})
	if err != nil {
		if errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn) || ctx.Err() != nil {
			return retry(redact(err))
		}
		// A failed send to a number that is not on WhatsApp would fail
		// forever; ask only now, to keep lookups (which WhatsApp
		// rate-limits) off the normal path.
		if on, lerr := cli.IsOnWhatsApp(ctx, []string{phone}); lerr == nil && !isOn(on, to.User) {
			return fail(fmt.Errorf("%s is not on WhatsApp", phone))
		}
		return retry(redact(err))
	}
	c.log.Info("whatsapp: sent", "outbound_id", out.ID, "message_id", resp.ID)
	return message.Delivery{ProviderID: resp.ID, State: message.StateSent}, nil
}

func isOn(res []types.IsOnWhatsAppResponse, user string) bool {
	for _, r := range res {
		if r.IsIn && (r.JID.User == user || strings.TrimPrefix(r.Query, "+") == user) {
			return true
		}
	}
	return false
}

var _ channels.Sender = (*Channel)(nil)
