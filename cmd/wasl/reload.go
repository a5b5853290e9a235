package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wasl-dev/wasl/inbox"
)

// bankReloader reloads the knowledge bank on SIGHUP, as the operator
// page's "reload" button does (and audited the same way): an invalid file
// is logged with its problems and the bank in use stays.
type bankReloader struct{ a *app }

func (r bankReloader) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if _, err := r.a.operator.ReloadBank(ctx, inbox.Principal{System: true}); err != nil {
				r.a.log.Error("SIGHUP: knowledge bank not reloaded", "err", err)
			}
		}
	}
}
