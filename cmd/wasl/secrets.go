package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// secretKey is the key that encrypts UI channels' credentials:
// WASL_SECRET_KEY, else secret_key_file, else none (nil: Wasl then refuses
// to store a credential).
func secretKey(cfg *config.Config) (*secrets.Key, error) {
	switch {
	case cfg.SecretKey != "":
		k, err := secrets.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, usageErr("WASL_SECRET_KEY: %v", err)
		}
		return k, nil
	case cfg.SecretKeyFile != "":
		k, err := secrets.LoadKeyFile(cfg.Resolve(cfg.SecretKeyFile))
		if err != nil {
			return nil, usageErr("secret_key_file: %v", err)
		}
		return k, nil
	}
	return nil, nil
}

// cmdSecrets makes keys and re-encrypts stored credentials under a new one.
func cmdSecrets(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	const use = "usage: wasl secrets keygen [--out FILE] | wasl secrets rotate --old-key-file FILE --new-key-file FILE [--config FILE]"
	if len(args) == 0 {
		return usageErr(use)
	}
	switch args[0] {
	case "keygen":
		fs := newFlags("secrets keygen")
		out := fs.String("out", "", "write the key to FILE (mode 0600; never overwritten) instead of printing it")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *out == "" {
			fmt.Fprintln(stdout, secrets.NewKey())
			return nil
		}
		k, err := secrets.WriteKeyFile(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote secret key %s to %s; set secret_key_file: %s in the config\n", k.ID(), *out, *out)
		return nil
	case "rotate":
		fs := newFlags("secrets rotate")
		path := fs.String("config", "", "config file")
		oldPath := fs.String("old-key-file", "", "the key the credentials are encrypted with now")
		newPath := fs.String("new-key-file", "", "the key to encrypt them with")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *oldPath == "" || *newPath == "" {
			return usageErr(use)
		}
		oldKey, err := secrets.LoadKeyFile(*oldPath)
		if err != nil {
			return usageErr("--old-key-file: %v", err)
		}
		newKey, err := secrets.LoadKeyFile(*newPath)
		if err != nil {
			return usageErr("--new-key-file: %v", err)
		}
		cfg, err := loadConfig(configPath(*path))
		if err != nil {
			return err
		}
		st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, log)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			return err
		}
		n, err := st.RotateSecrets(ctx, func(id int64, _ string, doc []byte) ([]byte, error) {
			return secrets.Reseal(oldKey, newKey, id, doc)
		})
		if err != nil {
			// One transaction: a channel that does not open with the old key
			// leaves every channel as it was.
			return fmt.Errorf("nothing changed: %w", err)
		}
		fmt.Fprintf(stdout, "re-encrypted the credentials of %d channels from key %s to key %s; point secret_key_file (or WASL_SECRET_KEY) at the new key and restart every replica\n",
			n, oldKey.ID(), newKey.ID())
		return nil
	}
	return usageErr(use)
}
