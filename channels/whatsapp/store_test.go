package whatsapp

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/wasl-dev/wasl/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func openSQLite(t *testing.T, pragmas string) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "wasl.db") + "?" + pragmas
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The device store upgrades on both databases Wasl runs on, twice (a
// restart), next to tables of Wasl's own, and yields a fresh unpaired device.
func TestNewDeviceStore(t *testing.T) {
	tests := []struct {
		dialect string
		open    func(t *testing.T) *sql.DB
	}{
		{"sqlite", func(t *testing.T) *sql.DB {
			return openSQLite(t, "_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		}},
		{"pgx", openPostgres},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			ctx := context.Background()
			db := tt.open(t)
			// Another part of Wasl owns tables in the same database.
			if _, err := db.ExecContext(ctx, "CREATE TABLE contacts (id INTEGER PRIMARY KEY, phone TEXT)"); err != nil {
				t.Fatal(err)
			}
			container, err := NewDeviceStore(ctx, db, tt.dialect, nil)
			if err != nil {
				t.Fatalf("NewDeviceStore: %v", err)
			}
			if _, err := NewDeviceStore(ctx, db, tt.dialect, nil); err != nil {
				t.Fatalf("second NewDeviceStore (restart): %v", err)
			}
			var version int
			if err := db.QueryRowContext(ctx, "SELECT version FROM whatsmeow_version").Scan(&version); err != nil || version < 1 {
				t.Fatalf("whatsmeow_version = %d, %v", version, err)
			}
			dev, err := container.GetFirstDevice(ctx)
			if err != nil {
				t.Fatalf("GetFirstDevice: %v", err)
			}
			if dev.ID != nil {
				t.Errorf("fresh device already paired as %s", dev.ID)
			}
			if dev.NoiseKey == nil || dev.IdentityKey == nil || dev.RegistrationID == 0 {
				t.Error("fresh device has no keys")
			}
			devices, err := container.GetAllDevices(ctx)
			if err != nil || len(devices) != 0 {
				t.Errorf("stored devices = %d, %v; want none before pairing", len(devices), err)
			}

			// A channel on this store starts unpaired.
			ch, err := New(testConfig(), container, &fakeIngester{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			cli, err := ch.loadClient(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, paired := cli.ID(); paired {
				t.Error("new channel's device is paired")
			}
		})
	}
}

func TestNewDeviceStoreErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		db      func(t *testing.T) *sql.DB
		dialect string
		want    string
	}{
		{"SQLite without foreign keys", func(t *testing.T) *sql.DB { return openSQLite(t, "") }, "sqlite", "foreign keys"},
		{"unknown dialect", func(t *testing.T) *sql.DB { return openSQLite(t, "_pragma=foreign_keys(1)") }, "mysql", "unsupported dialect"},
		{"nil database", func(t *testing.T) *sql.DB { return nil }, "sqlite", "nil database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDeviceStore(ctx, tt.db(t), tt.dialect, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Through a real whatsmeow client: the channel's client runs with the
// settings the delivery guarantee rests on, and whatsmeow's own dispatcher
// sees a failed ingest as a failed handler, which is what withholds the ack.
func TestWhatsmeowClientAckGating(t *testing.T) {
	ctx := context.Background()
	container, err := NewDeviceStore(ctx, openSQLite(t, "_pragma=foreign_keys(1)"), "sqlite", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		failures int
		failed   bool
	}{
		{"stored: acknowledged", 0, false},
		{"not stored: unacknowledged", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeIngester{failures: tt.failures}
			cfg := testConfig()
			cfg.MinBackoff, cfg.MaxBackoff = 1, 1
			ch, err := New(cfg, container, sink, nil, quiet())
			if err != nil {
				t.Fatal(err)
			}
			cli, err := ch.loadClient(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wc, ok := cli.(whatsmeowClient)
			if !ok {
				t.Fatalf("client is %T", cli)
			}
			if !wc.SynchronousAck || !wc.EnableDecryptedEventBuffer || wc.EnableAutoReconnect {
				t.Errorf("SynchronousAck %v, EnableDecryptedEventBuffer %v, EnableAutoReconnect %v; want true, true, false",
					wc.SynchronousAck, wc.EnableDecryptedEventBuffer, wc.EnableAutoReconnect)
			}
			ch.cli = cli
			//lint:ignore SA1019 the only way to drive whatsmeow's dispatcher without a server
			failed := wc.DangerousInternals().DispatchEvent(dm(t, "conversation_ar.json"))
			if failed != tt.failed {
				t.Errorf("handler failed = %v, want %v", failed, tt.failed)
			}
			calls, got := sink.snapshot()
			if tt.failed && calls != ingestAttempts || !tt.failed && len(got) != 1 {
				t.Errorf("ingest calls %d, stored %d", calls, len(got))
			}
		})
	}
}
