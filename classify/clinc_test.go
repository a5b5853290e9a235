package classify

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// clincDir is where the clinc150 splits live: /work/shared/data/clinc150
// seen from this package, i.e. shared/ beside the repository clone.
const clincDir = "../../shared/data/clinc150"

// The targets of issue #3, on clinc150 val at one threshold.
const (
	targetInScopeAccuracy = 0.94
	targetOOSRecall       = 0.60
)

func loadClinc(t testing.TB, split string) []Labeled {
	t.Helper()
	path := filepath.Join(clincDir, split+".jsonl")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("clinc150 %s split missing at %s: the classifier's accuracy test needs shared/data/clinc150 (train.jsonl, val.jsonl) beside the repository", split, path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ReadJSONL(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// clincModel trains on clinc150 train once per test binary; the accuracy
// test and the benchmark share it.
var clincModel = sync.OnceValues(func() (*Model, error) {
	f, err := os.Open(filepath.Join(clincDir, "train.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	train, err := ReadJSONL(f)
	if err != nil {
		return nil, err
	}
	return Train(ConfigFromLabeled(train))
})

func TestClinc150Targets(t *testing.T) {
	train := loadClinc(t, "train")
	val := loadClinc(t, "val")
	if len(train) != 15100 || len(val) != 3100 {
		t.Fatalf("clinc150 splits have %d and %d examples, want 15100 and 3100", len(train), len(val))
	}
	m, err := clincModel()
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(m, val)
	t.Logf("clinc150 val at the default threshold:\n%s", r)
	if r.InScopeAccuracy < targetInScopeAccuracy {
		t.Errorf("in-scope accuracy %.2f%%, want ≥ %.0f%%", 100*r.InScopeAccuracy, 100*targetInScopeAccuracy)
	}
	if r.OOSRecall < targetOOSRecall {
		t.Errorf("out-of-scope recall %.2f%%, want ≥ %.0f%%", 100*r.OOSRecall, 100*targetOOSRecall)
	}
}

func BenchmarkTrainClinc150(b *testing.B) {
	cfg := ConfigFromLabeled(loadClinc(b, "train"))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Train(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassify classifies clinc150 val texts, one after another, with
// the model trained on train.
func BenchmarkClassify(b *testing.B) {
	val := loadClinc(b, "val")
	m, err := clincModel()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m.Classify(Input{Text: val[i%len(val)].Text})
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "classifications/s")
}
