// Package configs ships Wasl's default configuration inside the binary: the
// university's knowledge bank, the demo configuration and the demo's seed
// mails, so `wasl demo` and `wasl classify` work from any directory.
package configs

import "embed"

// Files holds bank.yaml, demo.yaml, wasl.example.yaml and demo/mail/*.eml.
//
//go:embed bank.yaml demo.yaml wasl.example.yaml demo/mail/*.eml
var Files embed.FS
