package email

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// TestMain stops the PostgreSQL cluster the benchmark may have started.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// benchMails is how many mails BenchmarkFirstSync backfills.
const benchMails = 2000

// benchMail is a ~10 KB mail from a sender of its own: a short request
// and a small attachment, so that it is the storing, not the classifier's
// reading of a long text, that the benchmark weighs. Each makes a contact,
// a conversation, a message, its raw copy and attachment blobs.
func benchMail(i int) []byte {
	att := make([]byte, 6<<10)
	for j := range att {
		att[j] = byte(i*31 + j*7)
	}
	return fmt.Appendf(nil, "From: Student %d <student%d@example.org>\r\n"+
		"To: support@example.test\r\n"+
		"Subject: registration question %d\r\n"+
		"Date: Sun, 22 Nov 2026 08:%02d:00 +0300\r\n"+
		"Message-ID: <bench%d@wasl.test>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=b\r\n"+
		"\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hello, I cannot register for my courses (request %d); the portal says my fees are unpaid. My receipt is attached.\r\n"+
		"--b\r\nContent-Type: application/pdf; name=receipt.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
		i, i, i, i%60, i, i, wrap76(base64.StdEncoding.EncodeToString(att)))
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// serialSink hides the pipeline's IngestMailbox: the source then commits
// a mail, then its cursor, a transaction each, as before batches.
type serialSink struct{ p *router.Pipeline }

func (s serialSink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	r, err := s.p.Process(ctx, in)
	return r.Outcome, err
}

// BenchmarkFirstSync backfills a mailbox of benchMails mails from Dovecot
// into the store through the whole pipeline (first_sync: all), against
// the bare fetch of the same mailbox in the same run:
//
//	nice go test -run '^$' -bench FirstSync -benchtime 1x -count 3 ./channels/email
//
// The per-op time is one whole sync; ns/mail divides it. The -serial runs
// commit one mail and then its cursor at a time (the path before batches),
// for a comparison in the same run.
func BenchmarkFirstSync(b *testing.B) {
	srv := dovecot.Start(b)
	raws := make([][]byte, benchMails)
	for i := range raws {
		raws[i] = benchMail(i + 1)
	}
	srv.SeedMaildir(b, "INBOX", raws)

	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			c := srv.Dial(b, srv.User())
			if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				b.Fatal(err)
			}
			msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
				UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			}).Collect()
			if err != nil || len(msgs) != benchMails {
				b.Fatalf("fetched %d of %d: %v", len(msgs), benchMails, err)
			}
			c.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchMails), "ns/mail")
	})
	for _, db := range []struct {
		name   string
		dsn    func(b *testing.B) string
		serial bool
	}{
		{"sqlite", func(*testing.B) string { return "" }, false},
		{"sqlite-serial", func(*testing.B) string { return "" }, true},
		{"postgres", func(b *testing.B) string { return dbtest.PostgresURL(b, store.MigrateAt) }, false},
		{"postgres-serial", func(b *testing.B) string { return dbtest.PostgresURL(b, store.MigrateAt) }, true},
	} {
		b.Run(db.name, func(b *testing.B) {
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st, p := benchPipeline(b, db.dsn(b))
				var sink Ingester = p
				if db.serial {
					sink = serialSink{p}
				}
				src, _ := dovecotSource(b, srv, sink, st, nil)
				b.StartTimer()
				c0 := cpuTime()
				if err := src.syncOnce(context.Background()); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				b.StopTimer()
				var n int
				if err := st.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != benchMails {
					b.Fatalf("%d messages stored, want %d: %v", n, benchMails, err)
				}
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchMails), "ns/mail")
			// This process only: PostgreSQL's backends are not in it.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchMails), "cpu-ns/mail")
			// Since the binary started: the highest of the runs so far.
			b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MB")
		})
	}
}

// benchPipeline is the gateway's pipeline on a fresh database (dsn ""
// for SQLite), with the shipped bank and the classifier trained on it.
func benchPipeline(b testing.TB, dsn string) (*store.Store, *router.Pipeline) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	if dsn == "" {
		dir = dbtest.SQLiteDir(b, store.MigrateAt)
	}
	quiet := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, dsn, dir, quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	bank, err := replies.LoadBank("../../configs/bank.yaml")
	if err != nil {
		b.Fatal(err)
	}
	model, err := classify.Train(router.ClassifierConfig(bank))
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ch := store.Channel{Name: "mail", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(ctx, &ch); err != nil {
		b.Fatal(err)
	}
	if ch.ID != testChannel {
		// The source's channel id must name a stored channel.
		if _, err := st.DB().ExecContext(ctx, `UPDATE channels SET id = $1 WHERE id = $2`, testChannel, ch.ID); err != nil {
			b.Fatal(err)
		}
	}
	return st, router.New(st, model, bank, jobs, benchChannels{}, router.Config{}, quiet)
}

type benchChannels struct{}

func (benchChannels) Shaper(int64) (router.ReplyShaper, bool) { return nil, false }
func (benchChannels) NewMessageID(int64) string               { return NewMessageID("bench.wasl") }
