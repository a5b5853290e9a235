// Package demo holds what `wasl demo` (make run) starts from: its
// configuration and the mails it seeds the sandbox mailbox with. Only the
// demo build of cmd/wasl (-tags demo) imports it.
package demo

import "embed"

// Files holds demo.yaml and mail/*.eml.
//
//go:embed demo.yaml mail/*.eml
var Files embed.FS
