package sms

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wasl-dev/wasl/channels"
)

// maxRedirects bounds the redirects FetchMedia follows; Twilio uses one.
const maxRedirects = 5

// FetchMedia downloads a media file from an inbound message's MediaUrl with
// the account's credentials, following Twilio's redirect to its CDN (Go's
// client drops the credentials when the redirect leaves the domain). It
// refuses URLs outside https://*.twilio.com, so the auth token never goes
// elsewhere, and content over MaxMediaBytes.
//
// It is meant for a background job, not the webhook: Twilio wants its
// answer within 15 s. Errors wrapped with channels.Permanent (not found,
// too large, not a Twilio URL) will not succeed on retry.
func (c *Channel) FetchMedia(ctx context.Context, mediaURL string) (data []byte, contentType string, err error) {
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
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
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

	limit := c.cfg.MaxMediaBytes
	tooBig := func(size string) error {
		return channels.Permanent(fmt.Errorf("sms channel %q: media %s is %s bytes, over the limit of %d bytes (MaxMediaBytes)", c.cfg.Name, mediaURL, size, limit))
	}
	if resp.ContentLength > limit {
		return nil, "", tooBig(fmt.Sprint(resp.ContentLength))
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("sms channel %q: read media: %w", c.cfg.Name, err)
	}
	if int64(len(data)) > limit {
		return nil, "", tooBig("more than " + fmt.Sprint(limit))
	}

	contentType = resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = http.DetectContentType(data)
	}
	return data, mediaType(contentType), nil
}

func twilioHost(h string) bool {
	h = strings.ToLower(h)
	return h == "api.twilio.com" || strings.HasSuffix(h, ".twilio.com")
}
