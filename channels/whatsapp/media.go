package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"

	"github.com/wasl-dev/wasl/message"
)

// downloadTimeout bounds one media download.
const downloadTimeout = 2 * time.Minute

// downloader fetches and decrypts one media item.
type downloader interface {
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
}

// fetchMedia downloads the attachment Translate listed. A download that
// fails or is too large leaves the attachment without content and a note in
// the text: the message itself is never dropped.
func (c *Channel) fetchMedia(ctx context.Context, d downloader, msg *waE2E.Message, in *message.Inbound, log *slog.Logger) {
	m := mediaOf(msg)
	if m == nil {
		return
	}
	att := &in.Attachments[0]
	var why string
	if m.size > c.cfg.MaxMediaBytes {
		why = fmt.Sprintf("larger than the %d-byte limit", c.cfg.MaxMediaBytes)
	} else {
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		data, err := d.Download(dctx, m.msg)
		cancel()
		switch {
		case err != nil:
			why = "download failed"
			log.Warn("whatsapp: media download failed", "err", redact(err), "filename", att.Filename)
		case int64(len(data)) > c.cfg.MaxMediaBytes:
			why = fmt.Sprintf("larger than the %d-byte limit", c.cfg.MaxMediaBytes)
		default:
			att.Content = data
			att.Size = int64(len(data))
			return
		}
	}
	log.Warn("whatsapp: attachment kept without content", "filename", att.Filename, "reason", why)
	note := fmt.Sprintf("[WhatsApp: attachment %q (%s, %d bytes) was not downloaded: %s]", att.Filename, att.ContentType, att.Size, why)
	if strings.TrimSpace(in.Text) == "" {
		in.Text = note
	} else {
		in.Text += "\n\n" + note
	}
}
