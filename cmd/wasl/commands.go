package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
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
	threshold := fs.Float64("threshold", 0, "out-of-scope threshold (0: the default)")
	folds := fs.Int("folds", 0, "cross-validate: stratified K-fold over --train and --data together")
	groupOOS := fs.Bool("group-oos", false, "with --folds and two files: never test a fold's out-of-scope examples on a model trained on out-of-scope examples of the same file")
	seed := fs.Uint64("seed", 1, "with --folds: the seed that deals the folds")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	const usage = "usage: wasl eval --train FILE --data FILE, or wasl eval --folds K [--group-oos] [--train FILE] --data FILE"
	switch {
	case *folds == 0 && (*train == "" || *data == ""):
		return usageErr(usage)
	case *folds != 0 && *data == "" && *train == "":
		return usageErr(usage)
	case *folds != 0 && *folds < 2:
		return usageErr("--folds must be 2 or more, got %d", *folds)
	case *groupOOS && (*folds == 0 || *train == "" || *data == ""):
		return usageErr("--group-oos needs --folds and both --train and --data")
	case *threshold < 0 || *threshold > 1:
		return usageErr("--threshold must be between 0 and 1, got %v", *threshold)
	}
	read := func(p string) ([]classify.Labeled, error) {
		if p == "" {
			return nil, nil
		}
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
	if *folds == 0 {
		cfg := classify.ConfigFromLabeled(tr)
		cfg.Threshold = *threshold
		model, err := classify.Train(cfg)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, classify.Evaluate(model, ev).String())
		return nil
	}

	pool := append(append([]classify.Labeled{}, tr...), ev...)
	opts := classify.CVOptions{K: *folds, Seed: *seed}
	how := "stratified"
	if *groupOOS {
		opts.OOSGroups = make([]int, len(pool))
		for i := len(tr); i < len(pool); i++ {
			opts.OOSGroups[i] = 1
		}
		how = "stratified, out-of-scope examples grouped by file"
	}
	cv, err := classify.CrossValidate(pool, opts)
	if err != nil {
		return usageErr("%v", err)
	}
	t := *threshold
	if t == 0 {
		t = classify.DefaultThreshold
		if slices.ContainsFunc(pool, func(l classify.Labeled) bool { return l.Intent == classify.OOS }) {
			t = classify.DefaultNoneThreshold // what the folds' models use
		}
	}
	fmt.Fprintf(stdout, "%d-fold cross-validation (%s) over %d examples\n", *folds, how, len(pool))
	fmt.Fprint(stdout, cv.At(t).String())
	fmt.Fprintln(stdout, "thresholds for out-of-scope recall (all folds' answers together):")
	for _, r := range []float64{0.5, 0.6, 0.7, 0.8, 0.9} {
		p, err := cv.ThresholdFor(r)
		if err != nil {
			continue
		}
		fmt.Fprintf(stdout, "  recall %2.0f%%  threshold %.3f  in-scope accuracy %.2f%%  oos precision %.2f%%\n",
			100*r, p.Threshold, 100*p.InScopeAccuracy, 100*p.OOSPrecision)
	}
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
