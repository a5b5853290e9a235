package sms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// Send hands one message to Twilio and returns its sid and initial state.
// Later states arrive through StatusHandler.
//
// Send makes exactly one API call and never retries: Twilio has no
// idempotency key for messages, so the job runner, which claims each send
// once, decides about retries. Errors wrapped with channels.Permanent (bad or
// unsubscribed number, rejected request) will not succeed on retry; the
// others (429, 5xx, network) may. A network error after Twilio received the
// request can cause a duplicate on retry; that beats losing a reply.
//
// Send refuses no text for its length. For automatic replies the caller
// checks FitsBudget (or FitSegments) first and passes a shorter text when
// it does not fit.
func (c *Channel) Send(ctx context.Context, out message.Outbound) (message.Delivery, error) {
	// The outbound's kind is its channel's configured kind, which is sms for
	// every Twilio channel, WhatsApp senders included (c.kind says which
	// network the number is on). Anything else was routed here by mistake.
	if out.Channel != "" && out.Channel != ConfigKind {
		return message.Delivery{}, channels.Permanent(fmt.Errorf("sms channel %q: outbound %d belongs to a %s channel, not a Twilio one", c.cfg.Name, out.ID, out.Channel))
	}
	if out.ChannelID != 0 && out.ChannelID != c.cfg.ChannelID {
		return message.Delivery{}, channels.Permanent(fmt.Errorf("sms channel %q: outbound %d is for channel %d, this one is %d", c.cfg.Name, out.ID, out.ChannelID, c.cfg.ChannelID))
	}
	to, err := message.NormalizePhone(out.To.Value, c.cfg.DefaultRegion)
	if err != nil {
		return message.Delivery{}, channels.Permanent(fmt.Errorf("sms channel %q: outbound %d: recipient: %w", c.cfg.Name, out.ID, err))
	}
	if strings.TrimSpace(out.Text) == "" {
		return message.Delivery{}, channels.Permanent(fmt.Errorf("sms channel %q: outbound %d has no text", c.cfg.Name, out.ID))
	}
	if c.kind == message.WhatsApp {
		to = whatsappPrefix + to
	}

	params := &openapi.CreateMessageParams{}
	params.SetTo(to)
	params.SetBody(out.Text)
	params.SetStatusCallback(c.StatusCallbackURL())
	if c.cfg.From != "" {
		params.SetFrom(c.cfg.From)
	}
	if c.cfg.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(c.cfg.MessagingServiceSID)
	}

	api, tr, cancel := c.apiService(ctx)
	defer cancel()
	msg, err := api.CreateMessage(params)
	if err != nil {
		err = c.classify(ctx, err, tr.status.Load())
		c.log.Warn("twilio send failed", "outbound_id", out.ID, "permanent", channels.IsPermanent(err), "err", err)
		return message.Delivery{}, err
	}
	if msg.Sid == nil || *msg.Sid == "" {
		// Twilio answered 2xx, so the message may well be on its way: a
		// retry could send it twice.
		return message.Delivery{}, channels.Permanent(fmt.Errorf("sms channel %q: outbound %d: twilio accepted the message but returned no sid; not retrying to avoid a duplicate", c.cfg.Name, out.ID))
	}
	d := message.Delivery{ProviderID: *msg.Sid, State: message.StateQueued}
	if msg.Status != nil {
		if s, ok := deliveryState(*msg.Status); ok {
			d.State = s
		}
	}
	c.log.Info("twilio message queued", "outbound_id", out.ID, "message_sid", d.ProviderID, "state", string(d.State))
	return d, nil
}

// apiService returns a Twilio API client bound to ctx. twilio-go builds its
// requests without a context, so a per-call transport attaches ctx; it also
// records the HTTP status, which error bodies do not always carry.
func (c *Channel) apiService(ctx context.Context) (*openapi.ApiService, *callTransport, context.CancelFunc) {
	cancel := context.CancelFunc(func() {})
	if c.httpClient.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.httpClient.Timeout)
	}
	base := c.httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &callTransport{ctx: ctx, base: base}
	tc := &client.Client{
		Credentials: client.NewCredentials(c.cfg.AccountSID, c.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: tr,
			Jar:       c.httpClient.Jar,
			// As twilio-go's own default: the API does not redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	tc.SetAccountSid(c.cfg.AccountSID)
	return openapi.NewApiServiceWithClient(tc), tr, cancel
}

type callTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	status atomic.Int32
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	t.status.Store(int32(resp.StatusCode))
	if resp.StatusCode >= 400 {
		// twilio-go never closes error bodies; buffer and close here so
		// the connection is released.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// permanentCodes are Twilio errors about the message itself (recipient,
// sender, body) that no retry can fix, whatever the HTTP status.
var permanentCodes = map[int]bool{
	21211: true, // invalid To
	21214: true, // To cannot be reached
	21408: true, // sending to this region not enabled
	21602: true, // body required
	21603: true, // From required
	21604: true, // To required
	21606: true, // From is not a valid sending number for this account
	21610: true, // recipient unsubscribed (STOP)
	21612: true, // To not reachable from this From
	21614: true, // To is not a mobile number
	21617: true, // body over 1600 characters
	21910: true, // From and To on different channels
}

// classify wraps a CreateMessage error as permanent or retryable.
// httpStatus is the status the transport saw, 0 if none.
func (c *Channel) classify(ctx context.Context, err error, httpStatus int32) error {
	wrap := func(e error) error { return fmt.Errorf("sms channel %q: create message: %w", c.cfg.Name, e) }
	if ctx.Err() != nil {
		return wrap(errors.Join(ctx.Err(), err))
	}
	var tre *client.TwilioRestError
	if errors.As(err, &tre) {
		status := tre.Status
		if status == 0 {
			status = int(httpStatus)
		}
		switch {
		case permanentCodes[tre.Code]:
			return channels.Permanent(wrap(err))
		case status == http.StatusUnauthorized:
			// Wrong credentials fail every message alike; once an operator
			// fixes them, retries go through.
			return wrap(fmt.Errorf("twilio refused the account's credentials (check AccountSID and AuthToken): %w", err))
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			return wrap(err)
		case status >= 400:
			return channels.Permanent(wrap(err))
		}
		return wrap(err)
	}
	switch s := int(httpStatus); {
	case s >= 200 && s < 400:
		// Twilio answered without an error but the reply was unreadable:
		// the message may have been created, a retry could duplicate it.
		return channels.Permanent(wrap(fmt.Errorf("HTTP %d with an unreadable reply; not retrying to avoid a duplicate: %w", s, err)))
	case s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout && s != http.StatusUnauthorized:
		return channels.Permanent(wrap(fmt.Errorf("HTTP %d: %w", s, err)))
	case s != 0:
		return wrap(fmt.Errorf("HTTP %d: %w", s, err))
	}
	return wrap(err) // network
}

// CheckAccount fetches the channel's Twilio account with its credentials
// and nothing else: "test connection". It returns the account's friendly
// name; an account Twilio reports suspended or closed is an error, as is a
// refusal, with Twilio's own words. The account's auth token, which
// Twilio's answer carries, is dropped here.
func (c *Channel) CheckAccount(ctx context.Context) (friendlyName string, err error) {
	api, tr, cancel := c.apiService(ctx)
	defer cancel()
	acct, err := api.FetchAccount(c.cfg.AccountSID)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		} else if s := tr.status.Load(); s != 0 && !strings.Contains(err.Error(), fmt.Sprint(s)) {
			err = fmt.Errorf("HTTP %d: %w", s, err)
		}
		return "", fmt.Errorf("twilio account %s: %w", c.cfg.AccountSID, err)
	}
	if acct.FriendlyName != nil {
		friendlyName = *acct.FriendlyName
	}
	if acct.Status != nil && *acct.Status != "active" {
		return friendlyName, fmt.Errorf("twilio account %s is %s", c.cfg.AccountSID, *acct.Status)
	}
	return friendlyName, nil
}
