package sms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// maxRedirects bounds the redirects FetchMedia follows; Twilio uses one.
const maxRedirects = 5

// MaxMediaBytes is the most the channel keeps of one media file
// (Config.MaxMediaBytes): the media job stops reading there.
func (c *Channel) MaxMediaBytes() int64 { return c.cfg.MaxMediaBytes }

// OpenMedia starts the download of an inbound message's media (a.URL, a
// MediaUrl) with the account's credentials, following Twilio's redirect to
// its CDN (Go's client drops the credentials when the redirect leaves the
// domain), and returns the body as a stream for the caller to read (under
// MaxMediaBytes) and close. It refuses URLs outside https://*.twilio.com,
// so the auth token never goes elsewhere, and media whose Content-Length is
// over MaxMediaBytes.
//
// It is meant for a background job, not the webhook: Twilio wants its
// answer within 15 s. Errors wrapped with channels.Permanent (not found,
// too large, not a Twilio URL) will not succeed on retry.
func (c *Channel) OpenMedia(ctx context.Context, a message.Attachment) (body io.ReadCloser, contentType string, err error) {
	mediaURL := a.URL
	u, err := url.Parse(mediaURL)
	if err != nil {
		return nil, "", channels.Permanent(fmt.Errorf("sms channel %q: media URL: %w", c.cfg.Name, err))
	}
	if u.Scheme != "https" || !twilioHost(u.Hostname()) || u.User != nil {
		return nil, "", channels.Permanent(fmt.Errorf("sms channel %q: media URL %.200q is not an https://…twilio.com URL; refusing to send the account's credentials there", c.cfg.Name, mediaURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", channels.Permanent(fmt.Errorf("sms channel %q: media request: %w", c.cfg.Name, err))
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)

	hc := *c.httpClient
	// The client's overall timeout would cut a long download short; the
	// caller's context bounds it instead.
	hc.Timeout = 0
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a non-https URL (%s)", req.URL.Redacted())
		}
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("sms channel %q: fetch media: %w", c.cfg.Name, err)
	}

	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		err := fmt.Errorf("sms channel %q: fetch media %s: HTTP %s", c.cfg.Name, mediaURL, resp.Status)
		switch s := resp.StatusCode; {
		case s == http.StatusUnauthorized:
			// Credentials fail every fetch alike; an operator can fix them.
			return nil, "", fmt.Errorf("%w (check AccountSID and AuthToken)", err)
		case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
			return nil, "", err
		}
		return nil, "", channels.Permanent(err)
	}
	if limit := c.cfg.MaxMediaBytes; resp.ContentLength > limit {
		resp.Body.Close()
		return nil, "", channels.Permanent(fmt.Errorf("sms channel %q: media %s is %d bytes, over the limit of %d bytes (MaxMediaBytes)", c.cfg.Name, mediaURL, resp.ContentLength, limit))
	}

	contentType = resp.Header.Get("Content-Type")
	if contentType != "" {
		return resp.Body, mediaType(contentType), nil
	}
	// No type given: sniff the first bytes, without holding more.
	br := bufio.NewReaderSize(resp.Body, 512)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		resp.Body.Close()
		return nil, "", fmt.Errorf("sms channel %q: read media: %w", c.cfg.Name, err)
	}
	return readCloser{br, resp.Body}, mediaType(http.DetectContentType(head)), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func twilioHost(h string) bool {
	h = strings.ToLower(h)
	return h == "api.twilio.com" || strings.HasSuffix(h, ".twilio.com")
}
