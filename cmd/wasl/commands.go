package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/channels/whatsapp"
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/configs"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("wasl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("WASL_CONFIG"); v != "" {
		return v
	}
	return "wasl.yaml"
}

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		if os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") {
			return nil, usageErr("%v (pass --config FILE, set WASL_CONFIG, or start from configs/wasl.example.yaml)", err)
		}
		return nil, usageErr("%v", err)
	}
	return cfg, nil
}

func cmdServe(ctx context.Context, args []string, _ io.Writer, log *slog.Logger) error {
	fs := newFlags("serve")
	path := fs.String("config", "", "config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(configPath(*path))
	if err != nil {
		return err
	}
	if cfg.APIToken == "" {
		log.Warn("no API token configured (WASL_API_TOKEN): /api/v1 refuses every request")
	}
	a, err := newApp(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("migrate")
	path := fs.String("config", "", "config file")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	fmt.Fprintf(stdout, "migrations applied (%s)\n", st.Dialect())
	return nil
}

// cmdCheckConfig validates a gateway config (and the bank it names) or a
// knowledge bank on its own; it tells them apart by their top-level keys.
func cmdCheckConfig(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	if len(args) != 1 {
		return usageErr("usage: wasl check-config FILE")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return usageErr("%v", err)
	}
	if isBank(data) {
		bank, err := replies.ParseBank(data, args[0])
		if err != nil {
			return usageErr("%v", err)
		}
		if _, err := classify.Train(router.ClassifierConfig(bank)); err != nil {
			return usageErr("%s: %v", args[0], err)
		}
		fmt.Fprintf(stdout, "%s: knowledge bank OK (%d topics)\n", args[0], len(bank.Topics()))
		return nil
	}
	cfg, err := config.Parse(data, args[0], os.LookupEnv)
	if err != nil {
		return usageErr("%v", err)
	}
	bankPath := cfg.Resolve(cfg.KnowledgeBank)
	if _, _, err := loadBankAndModel(bankPath); err != nil {
		return usageErr("%v", err)
	}
	fmt.Fprintf(stdout, "%s: config OK (%d channels, knowledge bank %s)\n", args[0], len(cfg.Channels), bankPath)
	return nil
}

func isBank(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "topics:") {
			return true
		}
	}
	return false
}

func cmdInspect(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	if len(args) != 2 || args[0] != "email" {
		return usageErr("usage: wasl inspect email FILE")
	}
	raw, err := os.ReadFile(args[1])
	if err != nil {
		return usageErr("%v", err)
	}
	in := email.Parse(raw, email.ParseOptions{})
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(email.Summarize(in))
}

func cmdClassify(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("classify")
	bankPath := fs.String("bank", "", "knowledge bank (default: the built-in university bank)")
	sender := fs.String("sender", "", "sender address, for sender-domain rules")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	text := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(text) == "" {
		return usageErr("usage: wasl classify [--bank FILE] TEXT")
	}
	bank, err := openBank(*bankPath)
	if err != nil {
		return err
	}
	model, err := classify.Train(router.ClassifierConfig(bank))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(model.Classify(classify.Input{Text: text, Sender: *sender}))
}

func cmdEval(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("eval")
	train := fs.String("train", "", "training JSONL ({\"text\",\"intent\"}, intent oos = out of scope)")
	data := fs.String("data", "", "evaluation JSONL")
	threshold := fs.Float64("threshold", 0, "out-of-scope threshold (0: calibrated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *train == "" || *data == "" {
		return usageErr("usage: wasl eval --train FILE --data FILE")
	}
	read := func(p string) ([]classify.Labeled, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		defer f.Close()
		l, err := classify.ReadJSONL(f)
		if err != nil {
			return nil, usageErr("%s: %v", p, err)
		}
		return l, nil
	}
	tr, err := read(*train)
	if err != nil {
		return err
	}
	ev, err := read(*data)
	if err != nil {
		return err
	}
	cfg := classify.ConfigFromLabeled(tr)
	cfg.Threshold = *threshold
	model, err := classify.Train(cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, classify.Evaluate(model, ev).String())
	return nil
}

func cmdWhatsApp(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "pair" {
		return usageErr("usage: wasl whatsapp pair --channel NAME [--config FILE]")
	}
	fs := newFlags("whatsapp pair")
	path := fs.String("config", "", "config file")
	name := fs.String("channel", "", "whatsapp channel name")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(configPath(*path))
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer a.store.Close()
	c, ok := a.whatsapp[*name]
	if !ok {
		return usageErr("no whatsapp channel named %q in %s", *name, cfg.Path)
	}
	fmt.Fprintln(stdout, "Open WhatsApp on the organisation's phone → Linked devices → Link a device, and scan:")
	return c.Pair(ctx, func(code string) { whatsapp.PrintQR(stdout, code) })
}

func defaultBank() (*replies.Bank, error) {
	data, err := configs.Files.ReadFile("bank.yaml")
	if err != nil {
		return nil, fmt.Errorf("built-in knowledge bank: %w", err)
	}
	return replies.ParseBank(data, "configs/bank.yaml")
}

func openBank(path string) (*replies.Bank, error) {
	if path != "" {
		b, err := replies.LoadBank(path)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return b, nil
	}
	return defaultBank()
}
