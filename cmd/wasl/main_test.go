package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/classify"
)

// The tests run the command in process. run sets slog's default logger to
// the stderr it is given, so they do not run in parallel, and each puts the
// previous default back.

const (
	exampleConfig = "../../configs/wasl.example.yaml"
	bankFile      = "../../configs/bank.yaml"
	emailTestdata = "../../channels/email/testdata"
)

type result struct {
	code           int
	stdout, stderr string
}

func runWasl(t *testing.T, args ...string) result {
	t.Helper()
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// cleanEnv clears what could change a command's behaviour from outside.
func cleanEnv(t *testing.T) {
	t.Setenv("WASL_CONFIG", "")
	t.Setenv("WASL_DATABASE_URL", "")
	t.Setenv("WASL_API_TOKEN", "")
	t.Setenv("WASL_LOG_LEVEL", "")
}

// exampleEnv sets every variable wasl.example.yaml references.
func exampleEnv(t *testing.T) {
	for _, v := range []string{"WASL_API_TOKEN", "IMAP_PASSWORD", "SMTP_PASSWORD", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"} {
		t.Setenv(v, "test-"+strings.ToLower(v))
	}
}

// lineOf is the 1-based line of the first line of path containing s.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), s) {
			return n
		}
	}
	t.Fatalf("%s has no line with %q", path, s)
	return 0
}

func TestUsage(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring; "" means stdout must be empty
		stderr     string // substring; "" means stderr must be empty
		usageOnOut bool
	}{
		{name: "no args", args: nil, code: 2, usageOnOut: true},
		{name: "help", args: []string{"help"}, code: 0, usageOnOut: true},
		{name: "-h", args: []string{"-h"}, code: 0, usageOnOut: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "check-config without file", args: []string{"check-config"}, code: 2, stderr: "usage: wasl check-config FILE"},
		{name: "check-config two files", args: []string{"check-config", "a", "b"}, code: 2, stderr: "usage: wasl check-config FILE"},
		{name: "inspect without file", args: []string{"inspect", "email"}, code: 2, stderr: "usage: wasl inspect email FILE"},
		{name: "inspect other kind", args: []string{"inspect", "sms", "x"}, code: 2, stderr: "usage: wasl inspect email FILE"},
		{name: "classify without text", args: []string{"classify"}, code: 2, stderr: "usage: wasl classify"},
		{name: "classify blank text", args: []string{"classify", "  "}, code: 2, stderr: "usage: wasl classify"},
		{name: "classify unknown flag", args: []string{"classify", "--nope", "x"}, code: 2, stderr: "flag provided but not defined: -nope"},
		{name: "eval without flags", args: []string{"eval"}, code: 2, stderr: "usage: wasl eval --train FILE --data FILE"},
		{name: "eval without data", args: []string{"eval", "--train", "testdata/eval-train.jsonl"}, code: 2, stderr: "usage: wasl eval --train FILE --data FILE"},
		{name: "eval without train", args: []string{"eval", "--data", "testdata/eval-data.jsonl"}, code: 2, stderr: "usage: wasl eval --train FILE --data FILE"},
		{name: "migrate unknown flag", args: []string{"migrate", "--bogus"}, code: 2, stderr: "flag provided but not defined: -bogus"},
		// No --config, no $WASL_CONFIG and no ./wasl.yaml here.
		{name: "migrate without config", args: []string{"migrate"}, code: 2, stderr: "wasl.yaml"},
		{name: "whatsapp without pair", args: []string{"whatsapp"}, code: 2, stderr: "usage: wasl whatsapp pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWasl(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.usageOnOut {
				if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "wasl check-config FILE") {
					t.Errorf("stdout is not the usage: %q", r.stdout)
				}
			} else if !strings.Contains(r.stdout, tt.stdout) || (tt.stdout == "" && r.stdout != "") {
				t.Errorf("stdout %q, want %q", r.stdout, tt.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) || (tt.stderr == "" && r.stderr != "") {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	cleanEnv(t)
	exampleEnv(t)
	t.Setenv("WASL_TEST_UNSET_TOKEN", "") // empty counts as unset

	imapLine := lineOf(t, exampleConfig, "${IMAP_PASSWORD}")
	tests := []struct {
		name   string
		file   string
		unset  string // an environment variable to clear first
		code   int
		stdout string
		stderr []string // substrings, in order of importance
	}{
		{name: "example config", file: exampleConfig, code: 0,
			stdout: exampleConfig + ": config OK (6 channels, knowledge bank ../../configs/bank.yaml)"},
		{name: "university bank", file: bankFile, code: 0, stdout: bankFile + ": knowledge bank OK ("},
		{name: "example config without IMAP_PASSWORD", file: exampleConfig, unset: "IMAP_PASSWORD", code: 2,
			stderr: []string{exampleConfig + ":" + strconv.Itoa(imapLine) + ": environment variable IMAP_PASSWORD is not set"}},
		{name: "missing env var", file: "testdata/missing-env.yaml", code: 2,
			stderr: []string{"testdata/missing-env.yaml:6: environment variable WASL_TEST_UNSET_TOKEN is not set"}},
		// The line must be the file's own, not that of a re-encoded copy.
		{name: "unknown field", file: "testdata/unknown-field.yaml", code: 2,
			stderr: []string{"testdata/unknown-field.yaml", "api_tokn"}},
		{name: "broken bank", file: "testdata/broken-bank.yaml", code: 2,
			stderr: []string{
				`testdata/broken-bank.yaml:17: bank: unknown field "colour"`,
				`testdata/broken-bank.yaml:24: topic "maintenance": sla: invalid duration "soon"`,
			}},
		{name: "config with a broken bank", file: "testdata/config-broken-bank.yaml", code: 2,
			stderr: []string{`testdata/broken-bank.yaml:17: bank: unknown field "colour"`}},
		{name: "missing file", file: "testdata/no-such-file.yaml", code: 2,
			stderr: []string{"testdata/no-such-file.yaml", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unset != "" {
				t.Setenv(tt.unset, "")
			}
			r := runWasl(t, "check-config", tt.file)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.stdout != "" && !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", r.stdout, tt.stdout)
			}
			if tt.code != 0 && r.stdout != "" {
				t.Errorf("a failed check printed to stdout: %q", r.stdout)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q, want it to contain %q", r.stderr, s)
				}
			}
			// Secrets from the environment never show, even in errors.
			if strings.Contains(r.stdout+r.stderr, "test-imap_password") {
				t.Errorf("a secret was printed:\n%s%s", r.stdout, r.stderr)
			}
		})
	}

	// Unknown fields name the line they are on, in the file as written
	// (comments and blank lines included).
	t.Run("unknown field line", func(t *testing.T) {
		r := runWasl(t, "check-config", "testdata/unknown-field.yaml")
		want := lineOf(t, "testdata/unknown-field.yaml", "api_tokn:")
		re := regexp.MustCompile(`(unknown-field\.yaml:|line )` + strconv.Itoa(want) + `\b`)
		if !re.MatchString(r.stderr) {
			t.Errorf("stderr %q does not name line %d of unknown-field.yaml", r.stderr, want)
		}
	})
}

// inspectSummary is the JSON `wasl inspect email` prints; the fields are the
// ones operators and scripts rely on.
type inspectSummary struct {
	MessageID   string   `json:"message_id"`
	From        string   `json:"from"`
	To          []string `json:"to"`
	Subject     string   `json:"subject"`
	Text        string   `json:"text"`
	HasHTML     bool     `json:"has_html"`
	Attachments []struct {
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
	} `json:"attachments"`
	InReplyTo     string   `json:"in_reply_to"`
	References    []string `json:"references"`
	AutoSubmitted bool     `json:"auto_submitted"`
	Quarantined   bool     `json:"quarantined"`
	Reason        string   `json:"reason"`
}

var inspectFields = []string{"message_id", "from", "to", "subject", "text", "has_html", "attachments",
	"in_reply_to", "references", "auto_submitted", "quarantined", "reason"}

func TestInspectEmail(t *testing.T) {
	cleanEnv(t)
	type att struct {
		filename, contentType string
		size                  int64
	}
	tests := []struct {
		file        string
		messageID   string
		from        string
		subject     string
		text        []string
		hasHTML     bool
		atts        []att
		inReplyTo   string
		references  []string
		autoSub     bool
		quarantined string // substring of the reason; "" means not quarantined
	}{
		{
			file:      "win1256-arabic.eml",
			messageID: "DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com",
			from:      "m.otaibi@uni.example.edu.sa",
			subject:   "طلب صيانة جهاز العرض في القاعة 12",
			text:      []string{"نرجو التكرم بإرسال فني لصيانة جهاز العرض في القاعة 12", "د. محمد العتيبي"},
		},
		{
			file:      "attachment-rfc2231.eml",
			messageID: "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b@example.org",
			from:      "khalid@example.org",
			subject:   "Clearance form attached",
			text:      []string{"Please find the clearance form and the lecture schedule attached."},
			atts: []att{
				{"نموذج طلب إخلاء طرف.pdf", "application/pdf", 77},
				{"جدول المحاضرات الأسبوعي للفصل الثاني.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 264},
			},
		},
		{
			file:      "attachment-rfc2047.eml",
			messageID: "AM0PR10MB3155F00D@AM0PR10MB3155.EURPRD10.PROD.OUTLOOK.COM",
			from:      "a.shammari@uni.example.edu.sa",
			subject:   "عطل في السبورة الذكية",
			text:      []string{"السبورة الذكية في القاعة 5 لا تعمل."},
			hasHTML:   true,
			atts:      []att{{"image001.png", "image/png", 32}, {"صورة العطل.jpg", "image/jpeg", 53}},
		},
		{
			file:       "reply.eml",
			messageID:  "reply-3@example.com",
			from:       "omar@example.com",
			subject:    "Re: [#EDU-2026-000123] Projector in room B-204",
			text:       []string{"Thanks, it works now."},
			inReplyTo:  "wasl.2.ab12cd@example.edu.sa",
			references: []string{"first-1@example.com", "wasl.1.ff00ee@example.edu.sa", "wasl.2.ab12cd@example.edu.sa"},
		},
		{
			file:       "ooo-outlook.eml",
			messageID:  "b2c3d4e5f6a7@PAXPR04MB9999.eurprd04.prod.outlook.com",
			from:       "hind.d@uni.example.edu.sa",
			subject:    "رد تلقائي: [#EDU-2026-000123] طلب صيانة",
			text:       []string{"أنا خارج المكتب"},
			inReplyTo:  "wasl.5.aa11@example.edu.sa",
			references: []string{"wasl.5.aa11@example.edu.sa"},
			autoSub:    true,
		},
		{
			// Not an email at all: kept, quarantined with a reason, exit 0.
			file:        "garbage.bin",
			quarantined: "not an email",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := runWasl(t, "inspect", "email", filepath.Join(emailTestdata, tt.file))
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
				t.Fatalf("stdout is not a JSON object: %v\n%s", err, r.stdout)
			}
			for _, f := range inspectFields {
				v, ok := raw[f]
				if !ok {
					t.Errorf("field %q missing", f)
				} else if string(v) == "null" {
					t.Errorf("field %q is null; lists are [] and strings \"\"", f)
				}
			}
			var got inspectSummary
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if tt.quarantined != "" {
				if !got.Quarantined || !strings.Contains(got.Reason, tt.quarantined) {
					t.Errorf("quarantined=%v reason=%q, want quarantined with %q", got.Quarantined, got.Reason, tt.quarantined)
				}
				return
			}
			if got.Quarantined || got.Reason != "" {
				t.Errorf("quarantined=%v reason=%q", got.Quarantined, got.Reason)
			}
			if got.MessageID != tt.messageID || got.From != tt.from || got.Subject != tt.subject {
				t.Errorf("message_id=%q from=%q subject=%q\nwant %q %q %q", got.MessageID, got.From, got.Subject, tt.messageID, tt.from, tt.subject)
			}
			if len(got.To) != 1 || got.To[0] != "support@example.edu.sa" {
				t.Errorf("to = %q", got.To)
			}
			for _, s := range tt.text {
				if !strings.Contains(got.Text, s) {
					t.Errorf("text %q does not contain %q", got.Text, s)
				}
			}
			if got.HasHTML != tt.hasHTML || got.AutoSubmitted != tt.autoSub || got.InReplyTo != tt.inReplyTo {
				t.Errorf("has_html=%v auto_submitted=%v in_reply_to=%q", got.HasHTML, got.AutoSubmitted, got.InReplyTo)
			}
			if strings.Join(got.References, " ") != strings.Join(tt.references, " ") {
				t.Errorf("references = %q, want %q", got.References, tt.references)
			}
			if len(got.Attachments) != len(tt.atts) {
				t.Fatalf("attachments = %+v, want %+v", got.Attachments, tt.atts)
			}
			for i, a := range tt.atts {
				g := got.Attachments[i]
				if g.Filename != a.filename || g.ContentType != a.contentType || g.Size != a.size {
					t.Errorf("attachment %d = %+v, want %+v", i, g, a)
				}
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		r := runWasl(t, "inspect", "email", "testdata/no-such.eml")
		if r.code != 2 || !strings.Contains(r.stderr, "no-such.eml") {
			t.Errorf("exit %d, stderr %q; want 2 naming the file", r.code, r.stderr)
		}
	})
}

// The output is email.Summary, field for field.
func TestInspectEmailMatchesSummary(t *testing.T) {
	cleanEnv(t)
	path := filepath.Join(emailTestdata, "attachment-rfc2231.eml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(email.Summarize(email.Parse(raw, email.ParseOptions{})))
	if err != nil {
		t.Fatal(err)
	}
	r := runWasl(t, "inspect", "email", path)
	var a, b any
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(a, b) {
		t.Errorf("inspect printed\n%s\nwant\n%s", r.stdout, want)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestClassify(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name  string
		args  []string
		scope classify.Scope
		topic string
		lang  classify.Language
	}{
		{"arabic maintenance", []string{"البروجكتر في القاعة 12 خربان ما يشتغل نبي فني صيانة"},
			classify.ScopeIn, "equipment_maintenance", "ar"},
		{"arabic maintenance, bank given", []string{"--bank", bankFile, "السبورة الذكية معلقة وما تستجيب"},
			classify.ScopeIn, "equipment_maintenance", "ar"},
		{"english off topic", []string{"what's the weather in paris tomorrow"}, classify.ScopeOut, "", "en"},
		{"words as separate args", []string{"what's", "the", "weather", "in", "paris", "tomorrow"}, classify.ScopeOut, "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWasl(t, append([]string{"classify"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			var got classify.Result
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not a result: %v\n%s", err, r.stdout)
			}
			if got.Scope != tt.scope || got.Language != tt.lang {
				t.Errorf("scope %q language %q, want %q %q\n%s", got.Scope, got.Language, tt.scope, tt.lang, r.stdout)
			}
			if tt.topic != "" && got.Topic != tt.topic {
				t.Errorf("topic %q, want %q\n%s", got.Topic, tt.topic, r.stdout)
			}
			if len(got.Reasons) == 0 {
				t.Errorf("no reasons given: %s", r.stdout)
			}
		})
	}

	t.Run("broken bank", func(t *testing.T) {
		r := runWasl(t, "classify", "--bank", "testdata/broken-bank.yaml", "hello")
		if r.code != 2 || !strings.Contains(r.stderr, "testdata/broken-bank.yaml:17:") {
			t.Errorf("exit %d, stderr %q; want 2 with the bank's file:line", r.code, r.stderr)
		}
	})
}

func TestEval(t *testing.T) {
	cleanEnv(t)
	t.Run("report", func(t *testing.T) {
		r := runWasl(t, "eval", "--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
		}
		// 8 examples (the blank line is skipped), 2 of them out of scope.
		if !strings.Contains(r.stdout, "examples           8 (6 in scope, 2 out of scope)") {
			t.Errorf("report does not count the data:\n%s", r.stdout)
		}
		m := regexp.MustCompile(`in-scope accuracy\s+([0-9.]+)%`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no in-scope accuracy in:\n%s", r.stdout)
		}
		// The evaluation phrases are close to the training ones: a model
		// that learned anything gets most of them.
		if acc, _ := strconv.ParseFloat(m[1], 64); acc < 50 {
			t.Errorf("in-scope accuracy %.2f%%, want at least 50%%:\n%s", acc, r.stdout)
		}
		for _, s := range []string{"oos recall", "oos precision", "threshold"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("report lacks %q:\n%s", s, r.stdout)
			}
		}
	})

	t.Run("cross-validation", func(t *testing.T) {
		r := runWasl(t, "eval", "--folds", "2", "--group-oos", "--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
		}
		for _, s := range []string{
			"2-fold cross-validation (stratified, out-of-scope examples grouped by file) over 34 examples",
			"threshold          0.050", // the data has oos: the none topic's default
			"fold  in-scope acc  oos recall  oos precision\n   1 ",
			"\n   2 ",
			"in-scope accuracy ", "% ± ", "(sd), folds ",
			"thresholds for out-of-scope recall",
		} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("report lacks %q:\n%s", s, r.stdout)
			}
		}
		// The same seed deals the same folds.
		if again := runWasl(t, "eval", "--folds", "2", "--group-oos", "--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl"); again.stdout != r.stdout {
			t.Errorf("two runs differ:\n%s\n---\n%s", r.stdout, again.stdout)
		}
		plain := runWasl(t, "eval", "--folds", "3", "--data", "testdata/eval-train.jsonl", "--threshold", "0.3")
		if plain.code != 0 || !strings.Contains(plain.stdout, "3-fold cross-validation (stratified) over 26 examples") ||
			!strings.Contains(plain.stdout, "threshold          0.300") {
			t.Errorf("one file, three folds: exit %d\n%s%s", plain.code, plain.stdout, plain.stderr)
		}
	})

	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"one fold", []string{"--folds", "1", "--data", "testdata/eval-data.jsonl"}, "--folds must be 2 or more"},
		{"folds without data", []string{"--folds", "5"}, "usage: wasl eval"},
		{"group-oos without folds", []string{"--group-oos", "--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl"}, "--group-oos needs --folds"},
		{"group-oos with one file", []string{"--folds", "2", "--group-oos", "--data", "testdata/eval-data.jsonl"}, "--group-oos needs --folds and both"},
		{"threshold out of range", []string{"--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl", "--threshold", "2"}, "--threshold must be between 0 and 1"},
		{"missing train file", []string{"--train", "testdata/nope.jsonl", "--data", "testdata/eval-data.jsonl"}, "testdata/nope.jsonl"},
		{"malformed data", []string{"--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-broken.jsonl"}, "testdata/eval-broken.jsonl: line 2:"},
		{"bad threshold", []string{"--train", "testdata/eval-train.jsonl", "--data", "testdata/eval-data.jsonl", "--threshold", "high"}, "-threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWasl(t, append([]string{"eval"}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", r.code, r.stderr, tt.stderr)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	cleanEnv(t)
	bank, err := filepath.Abs(bankFile)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "wasl.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\nknowledge_bank: "+bank+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	first := runWasl(t, "migrate", "--config", cfg)
	if first.code != 0 {
		t.Fatalf("first migrate: exit %d\nstderr: %s", first.code, first.stderr)
	}
	if !strings.Contains(first.stdout, "migrations applied (sqlite)") {
		t.Errorf("stdout %q", first.stdout)
	}
	if !strings.Contains(first.stderr, "applied migration") {
		t.Errorf("first run logged no migration:\n%s", first.stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "wasl.db")); err != nil {
		t.Errorf("no database in data_dir: %v", err)
	}

	// Again: nothing left to apply, still success. $WASL_CONFIG names the
	// file this time.
	t.Setenv("WASL_CONFIG", cfg)
	second := runWasl(t, "migrate")
	if second.code != 0 {
		t.Fatalf("second migrate: exit %d\nstderr: %s", second.code, second.stderr)
	}
	if strings.Contains(second.stderr, "applied migration") {
		t.Errorf("second run applied migrations again:\n%s", second.stderr)
	}

	// The log goes to the stderr run was given, as JSON lines.
	for _, line := range strings.Split(strings.TrimSpace(first.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}
