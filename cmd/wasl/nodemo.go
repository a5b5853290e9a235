//go:build !demo

package main

import (
	"context"
	"io"
	"log/slog"
)

// cmdDemo in the shipped binary says where the demo is: it is built only
// with -tags demo (demo.go), which links its sandbox servers.
func cmdDemo(context.Context, []string, io.Writer, *slog.Logger) error {
	return usageErr("this wasl is built without the demo: run `make run` (go run -tags demo ./cmd/wasl demo)")
}
