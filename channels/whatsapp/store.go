package whatsapp

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"go.mau.fi/whatsmeow/store/sqlstore"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// NewDeviceStore wraps db in whatsmeow's device store and brings its tables
// (all named whatsmeow_*) up to date. dialect is "sqlite" (modernc, the DSN
// must enable foreign keys: _pragma=foreign_keys(1)) or "pgx".
func NewDeviceStore(ctx context.Context, db *sql.DB, dialect string, log *slog.Logger) (*sqlstore.Container, error) {
	if db == nil {
		return nil, fmt.Errorf("whatsapp device store: nil database")
	}
	// sqlstore.NewWithDB panics on a dialect it does not know; refuse first.
	switch strings.ToLower(dialect) {
	case "sqlite", "sqlite3", "pgx", "postgres":
	default:
		return nil, fmt.Errorf("whatsapp device store: unsupported dialect %q (want sqlite or pgx)", dialect)
	}
	container := sqlstore.NewWithDB(db, strings.ToLower(dialect), newWALogger(log))
	if err := container.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("whatsapp device store: upgrade (%s): %w", dialect, err)
	}
	return container, nil
}

// waLogger lets whatsmeow log through slog.
type waLogger struct {
	log    *slog.Logger
	module string
}

func newWALogger(log *slog.Logger) waLog.Logger {
	if log == nil {
		log = slog.Default()
	}
	return &waLogger{log: log, module: "whatsmeow"}
}

// quiet reports whether debug lines of this module are dropped: Send and
// Recv dump every raw protocol node, and QRChannel logs each QR code, which
// carries the device's ADV secret key.
func (l *waLogger) quiet() bool {
	for _, m := range []string{"/Send", "/Recv", "/QRChannel"} {
		if strings.HasSuffix(l.module, m) {
			return true
		}
	}
	return false
}

func (l *waLogger) emit(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, redactURLs(fmt.Sprintf(msg, args...)), "module", l.module)
}

var urlPattern = regexp.MustCompile(`(https?://[^/\s"'<>]+)[^\s"'<>]*`)

// redactURLs keeps only the host of the URLs in s: whatsmeow's download
// errors name the media URL, whose path and query lead to the file.
func redactURLs(s string) string {
	return urlPattern.ReplaceAllString(s, "$1/…")
}

func (l *waLogger) Errorf(msg string, args ...any) { l.emit(slog.LevelError, msg, args) }
func (l *waLogger) Warnf(msg string, args ...any)  { l.emit(slog.LevelWarn, msg, args) }
func (l *waLogger) Infof(msg string, args ...any)  { l.emit(slog.LevelInfo, msg, args) }
func (l *waLogger) Debugf(msg string, args ...any) {
	if l.quiet() {
		return
	}
	l.emit(slog.LevelDebug, msg, args)
}

func (l *waLogger) Sub(module string) waLog.Logger {
	return &waLogger{log: l.log, module: l.module + "/" + module}
}
