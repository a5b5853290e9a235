// Package configs ships Wasl's default configuration inside the binary: the
// university's knowledge bank and the example configuration, so `wasl
// classify` works from any directory. The demo's files are in configs/demo.
package configs

import "embed"

// Files holds bank.yaml and wasl.example.yaml.
//
//go:embed bank.yaml wasl.example.yaml
var Files embed.FS
