package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// Media are not downloaded by the event handler: Translate lists each
// attachment with a descriptor, the pipeline stores it and enqueues the
// media job, and the job calls OpenMedia, which downloads through the
// linked device under the size limit. A message is thus stored (and
// acknowledged) at once, whatever its media.

// downloadTimeout bounds one media download.
const downloadTimeout = 5 * time.Minute

// ErrMediaTooLarge is OpenMedia's error for media over MaxMediaBytes,
// announced or found while downloading.
var ErrMediaTooLarge = errors.New("whatsapp: media over the size limit")

// mediaDescriptor is what downloading an attachment needs long after its
// event: whatsmeow downloads by direct path, media key and hashes. Whoever
// holds it can fetch and decrypt the file, so it is stored with the
// attachment but never shown or logged.
type mediaDescriptor struct {
	MediaType     whatsmeow.MediaType `json:"media_type"`
	DirectPath    string              `json:"direct_path"`
	MediaKey      []byte              `json:"media_key"`
	FileSHA256    []byte              `json:"file_sha256"`
	FileEncSHA256 []byte              `json:"file_enc_sha256"`
	FileLength    int64               `json:"file_length"`
}

func (m *media) descriptor() []byte {
	b, err := json.Marshal(mediaDescriptor{
		MediaType:     whatsmeow.GetMediaType(m.msg),
		DirectPath:    m.msg.GetDirectPath(),
		MediaKey:      m.msg.GetMediaKey(),
		FileSHA256:    m.msg.GetFileSHA256(),
		FileEncSHA256: m.msg.GetFileEncSHA256(),
		FileLength:    m.size,
	})
	if err != nil {
		return nil // cannot happen: plain fields
	}
	return b
}

// downloader fetches and decrypts one media file into file, as whatsmeow's
// Client.DownloadMediaWithPathToFile does.
type downloader interface {
	DownloadMediaWithPathToFile(ctx context.Context, directPath string, encFileHash, fileHash, mediaKey []byte,
		fileLength int, mediaType whatsmeow.MediaType, mmsType string, file whatsmeow.File) error
}

// MaxMediaBytes is the most the channel keeps of one media file
// (Config.MaxMediaBytes).
func (c *Channel) MaxMediaBytes() int64 { return c.cfg.MaxMediaBytes }

// OpenMedia downloads the media a describes (Translate's descriptor)
// through the linked device and returns the decrypted content to read and
// close. The download goes to an unlinked temporary file, refused past
// MaxMediaBytes while it streams, so memory stays flat and a false declared
// length costs at most the limit. Not being connected is retryable; a
// descriptor that cannot be used, media gone from WhatsApp's servers,
// content that does not match its hashes, and media over the limit
// (ErrMediaTooLarge) are permanent (channels.Permanent).
func (c *Channel) OpenMedia(ctx context.Context, a message.Attachment) (io.ReadCloser, string, error) {
	fail := func(err error) (io.ReadCloser, string, error) {
		return nil, "", channels.Permanent(fmt.Errorf("whatsapp channel %q: media %q: %w", c.cfg.Name, a.Filename, err))
	}
	retry := func(err error) (io.ReadCloser, string, error) {
		return nil, "", fmt.Errorf("whatsapp channel %q: media %q: %w", c.cfg.Name, a.Filename, err)
	}
	var d mediaDescriptor
	if err := json.Unmarshal(a.Descriptor, &d); err != nil {
		return fail(errors.New("unreadable media descriptor"))
	}
	if d.DirectPath == "" || len(d.MediaKey) == 0 || d.MediaType == "" {
		return fail(errors.New("WhatsApp gave no download path or key for this media"))
	}
	limit := c.cfg.MaxMediaBytes
	if d.FileLength > limit {
		return fail(fmt.Errorf("%w: announced %d bytes, the limit is %d", ErrMediaTooLarge, d.FileLength, limit))
	}
	cli := c.current()
	if cli == nil || !cli.IsConnected() || !cli.IsLoggedIn() {
		return retry(ErrNotConnected)
	}

	f, err := os.CreateTemp("", "wasl-whatsapp-media-*")
	if err != nil {
		return retry(fmt.Errorf("temporary file: %w", err))
	}
	// Unlinked at once: the space is freed when the file is closed, even if
	// the process dies first.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return retry(fmt.Errorf("temporary file: %w", err))
	}
	// The encrypted download is the content, padded to 16 bytes, and a
	// 10-byte MAC.
	capped := &cappedFile{f: f, limit: limit + 16 + 10}
	dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	length := -1 // unknown: whatsmeow then skips its length check
	if d.FileLength > 0 {
		length = int(d.FileLength)
	}
	err = cli.DownloadMediaWithPathToFile(dctx, d.DirectPath, d.FileEncSHA256, d.FileSHA256, d.MediaKey, length, d.MediaType, "", capped)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() > limit {
			err = fmt.Errorf("%w: more than %d bytes", ErrMediaTooLarge, limit)
		}
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		switch {
		case capped.over, errors.Is(err, ErrMediaTooLarge):
			return fail(fmt.Errorf("%w: more than %d bytes", ErrMediaTooLarge, limit))
		case ctx.Err() != nil:
			return retry(ctx.Err())
		case permanentDownloadError(err):
			return fail(redact(err))
		}
		return retry(redact(err))
	}
	return f, a.ContentType, nil
}

// permanentDownloadError reports whether err says the media cannot be had:
// gone from WhatsApp's servers, or not what its hashes say.
func permanentDownloadError(err error) bool {
	for _, e := range []error{
		whatsmeow.ErrMediaDownloadFailedWith403, whatsmeow.ErrMediaDownloadFailedWith404, whatsmeow.ErrMediaDownloadFailedWith410,
		whatsmeow.ErrInvalidMediaHMAC, whatsmeow.ErrInvalidMediaEncSHA256, whatsmeow.ErrInvalidMediaSHA256,
		whatsmeow.ErrFileLengthMismatch, whatsmeow.ErrTooShortFile,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// cappedFile is the file whatsmeow downloads into, refusing to grow past
// limit. It does not embed *os.File on purpose: io.Copy would find its
// ReadFrom and write around the cap.
type cappedFile struct {
	f     *os.File
	limit int64
	over  bool
}

func (c *cappedFile) Write(p []byte) (int, error) {
	pos, err := c.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if c.over || pos+int64(len(p)) > c.limit {
		c.over = true
		return 0, ErrMediaTooLarge
	}
	return c.f.Write(p)
}

func (c *cappedFile) WriteAt(p []byte, off int64) (int, error) {
	if c.over || off+int64(len(p)) > c.limit {
		c.over = true
		return 0, ErrMediaTooLarge
	}
	return c.f.WriteAt(p, off)
}

func (c *cappedFile) Read(p []byte) (int, error)              { return c.f.Read(p) }
func (c *cappedFile) ReadAt(p []byte, off int64) (int, error) { return c.f.ReadAt(p, off) }
func (c *cappedFile) Seek(off int64, whence int) (int64, error) {
	return c.f.Seek(off, whence)
}
func (c *cappedFile) Truncate(size int64) error  { return c.f.Truncate(size) }
func (c *cappedFile) Stat() (os.FileInfo, error) { return c.f.Stat() }

var _ whatsmeow.File = (*cappedFile)(nil)
