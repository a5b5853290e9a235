// Command wasl is the Wasl gateway: one binary for the server, its
// migrations, and the tools an operator uses to check configuration and
// see what Wasl makes of a message.
package main

import (
	_ "time/tzdata" // the bank's time zone must load on images without zoneinfo

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `wasl — omnichannel message-ingestion gateway

Usage:
  wasl serve [--config FILE]              run the gateway
  wasl migrate [--config FILE]            apply database migrations and exit
  wasl check-config FILE                  validate a config file or a knowledge bank
  wasl demo [--dir DIR] [--addr ADDR]     run the gateway against a local sandbox (make run; built with -tags demo)
  wasl inspect email FILE                 print the normalized message as JSON
  wasl classify [--bank FILE] TEXT        print the classification of TEXT as JSON
  wasl eval --train FILE --data FILE      train on JSONL and report accuracy
  wasl whatsapp pair --channel NAME [--config FILE]
                                          link the gateway to a WhatsApp number (QR code)
  wasl user add --email E --name N --role agent|operator [--department D]... [--password-stdin]
  wasl user passwd|disable|enable --email E [--password-stdin]
  wasl user token --email E [--token-name N]
                                          manage staff accounts and personal API tokens
  wasl secrets keygen [--out FILE]        make a key for the credentials entered in the web UI
  wasl secrets rotate --old-key-file F --new-key-file F
                                          re-encrypt every stored credential under a new key

The config file defaults to $WASL_CONFIG, then ./wasl.yaml.
Environment: WASL_DATABASE_URL (postgres://… selects PostgreSQL), WASL_API_TOKEN,
WASL_SECRET_KEY (the credentials key, base64; or secret_key_file in the config).
`

// exitUsage is returned for mistakes the user can fix by reading the message.
type exitUsage struct{ error }

func main() {
	// Libraries that log through slog's default logger write JSON too.
	slog.SetDefault(newLogger(os.Stderr))
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: logLevel()}))
}

func run(args []string, stdout, stderr io.Writer) int {
	log := newLogger(stderr)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmds := map[string]func(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error{
		"serve":        cmdServe,
		"migrate":      cmdMigrate,
		"check-config": cmdCheckConfig,
		"demo":         cmdDemo,
		"inspect":      cmdInspect,
		"classify":     cmdClassify,
		"eval":         cmdEval,
		"whatsapp":     cmdWhatsApp,
		"user":         cmdUser,
		"secrets":      cmdSecrets,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wasl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd(ctx, args[1:], stdout, log); err != nil {
		fmt.Fprintf(stderr, "wasl %s: %v\n", args[0], err)
		var u exitUsage
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("WASL_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func usageErr(format string, a ...any) error {
	return exitUsage{fmt.Errorf(format, a...)}
}
