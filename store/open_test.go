package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenChoosesDialect(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		dsn      string
		dataDir  string
		wantFile string // SQLite file that must exist afterwards
		wantErr  string
	}{
		{"default file in data dir", "", filepath.Join(dir, "a"), filepath.Join(dir, "a", "wasl.db"), ""},
		{"path ending .db", filepath.Join(dir, "b.db"), dir, filepath.Join(dir, "b.db"), ""},
		{"file URI with own pragma", "file:" + filepath.Join(dir, "c.sqlite") + "?_pragma=cache_size(-4000)", dir, filepath.Join(dir, "c.sqlite"), ""},
		{"unknown scheme", "mysql://u@localhost/wasl", dir, "", "unsupported database"},
		{"no data dir", "", "", "", "data directory is required"},
		{"password is not echoed", "postgres://wasl:hunter2@127.0.0.1:1/wasl?connect_timeout=5", dir, "", "open postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn, tt.dataDir, quiet())
			if tt.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("Open succeeded, want error %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err = %v, want %q and no password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Dialect() != SQLite {
				t.Errorf("dialect %s, want sqlite", s.Dialect())
			}
			if _, err := os.Stat(tt.wantFile); err != nil {
				t.Errorf("database file: %v", err)
			}
			if _, err := os.Stat(filepath.Join(tt.dataDir, "blobs")); err != nil {
				t.Errorf("blob directory: %v", err)
			}
		})
	}
}

// TestSQLiteSettings checks the settings every pooled connection gets.
func TestSQLiteSettings(t *testing.T) {
	s := openStore(t, backends()[0])
	ctx := t.Context()
	// Hold several connections at once so the checks are not all answered
	// by the first one.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"busy_timeout", "30000"},
			{"temp_store", "2"}, // memory
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("connection %d: %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
}

func TestInTxHonoursContext(t *testing.T) {
	s := openStore(t, backends()[0])
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.InTx(ctx, func(tx *Tx) error {
		t.Error("fn ran with a cancelled context")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestPostgresCompressesWithLZ4: the columns a backfill fills are
// compressed with lz4 (migration 00027), and a row written there comes
// back whole.
func TestPostgresCompressesWithLZ4(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		if s.dialect != Postgres {
			return // SQLite compresses nothing
		}
		for _, c := range []struct{ table, column string }{
			{"messages", "body_text"}, {"messages", "body_html"}, {"blob_data", "data"}, {"message_search", "doc"},
		} {
			if n := count(t, s, `SELECT count(*) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND attcompression = 'l'`, c.table, c.column); n != 1 {
				t.Errorf("%s.%s is not compressed with lz4", c.table, c.column)
			}
		}
		data := []byte(strings.Repeat("a compressible raw copy of a mail, ", 400))
		if _, err := s.DB().ExecContext(t.Context(), `INSERT INTO blob_data (sha256, data) VALUES ('x', $1)`, data); err != nil {
			t.Fatal(err)
		}
		var back []byte
		var method string
		if err := s.DB().QueryRowContext(t.Context(), `SELECT data, pg_column_compression(data) FROM blob_data WHERE sha256 = 'x'`).Scan(&back, &method); err != nil {
			t.Fatal(err)
		}
		if string(back) != string(data) || method != "lz4" {
			t.Errorf("blob read back: %d bytes (want %d), compressed with %q, want lz4", len(back), len(data), method)
		}
	})
}
