package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/store"
)

// TestIndexTermsWordByWord holds indexTerms' premise: the gateway's
// normalizer, applied a word at a time, gives the terms of the whole text,
// each once in the order of its first occurrence — so what a search finds
// does not depend on which of the two ways a message was indexed.
func TestIndexTermsWordByWord(t *testing.T) {
	texts := []string{
		"",
		"   \r\n\t ",
		"Hello, hello HELLO world. World!",
		"The projector in room 12 is broken.\r\n> The projector in room 12 is broken.\r\n>> The projector…",
		"البروجكتر في القاعة ١٢ لا يعمل، جربنا كيبل آخر. البروجكتر لا يعمل!",
		"مُحَمَّد محمد أحمد احمد إدارة ادارة مدرسة مدرسه",
		"mixedالعربيةscript and عربيlatin",
		"it´s it's it’s its",
		"non\u00a0breaking\u2003em\u3000ideographic\u2028line",
		"zero\u200bwidth\u200cnon\u200djoiner ـــتطويل",
		"ﬁne ligature ① circled ＦＵＬＬwidth",
		"e\u0301 é cafe\u0301 café",
		"\u0301leading mark and trailing e\u0301",
		"tab\tseparated\vvertical\fform\u0085next",
	}
	st := &store.Store{}
	st.SetSearchNormalizer(classify.Normalize)
	for _, text := range texts {
		var want []string
		for _, term := range st.SearchTerms(text) {
			if !slices.Contains(want, term) {
				want = append(want, term)
			}
		}
		if got := st.IndexTerms("", text); !slices.Equal(got, want) {
			t.Errorf("IndexTerms(%q)\n got %q\nwant %q", text, got, want)
		}
	}
	// The quoting mail costs one entry a word.
	quoted := strings.Repeat("> Please fix the projector in hall 4.\r\n", 200)
	if got := st.IndexTerms("", quoted); !slices.Equal(got, []string{"please", "fix", "the", "projector", "in", "hall", "4"}) {
		t.Errorf("IndexTerms of a quoted line 200 times: %q", got)
	}
}

// TestTermIndexerKeepsWords: one TermIndexer over message after message
// gives each the terms IndexTerms gives it alone, whatever came before
// (words seen, words one of them had twice, terms two words share).
func TestTermIndexerKeepsWords(t *testing.T) {
	texts := []string{
		"The projector in room 12 is broken.",
		"",
		"the PROJECTOR, the projector; room 12 again",
		"room room room",
		"البروجكتر في القاعة ١٢ لا يعمل",
		"Room 12: البروجكتر لا يعمل، the projector",
		"it´s it's it’s its café cafe\u0301",
		"The projector in room 12 is broken.",
	}
	st := &store.Store{}
	st.SetSearchNormalizer(classify.Normalize)
	ix := st.NewTermIndexer()
	for round := range 2 {
		for i, text := range texts {
			subject := fmt.Sprint("Request ", i%3)
			want := st.IndexTerms(subject, text)
			if got := ix.Terms(subject, text); !slices.Equal(got, want) {
				t.Errorf("round %d, text %d %q:\n got %q\nwant %q", round, i, text, got, want)
			}
		}
	}
}

// BenchmarkIndexTerms weighs indexing a 10 KB mail that quotes its thread
// (the harness's first-sync mail) word by word, alone and after others
// through one TermIndexer, against normalizing the whole text and then
// dropping repeated terms:
//
//	go test -run '^$' -bench IndexTerms ./store
func BenchmarkIndexTerms(b *testing.B) {
	var mail strings.Builder
	mail.WriteString("Dear support team,\r\n\r\nThe projector in room 12 has shown no picture since Sunday morning.\r\n\r\n")
	for k := 1; mail.Len() < 10240; k++ {
		if k%2 == 0 {
			mail.WriteString("> البروجكتر في القاعة ١٢ لا يعمل منذ صباح الأحد، جربنا كيبل آخر وجهاز التحكم ولا يزال مؤشر المصباح أحمر.\r\n")
		} else {
			mail.WriteString("> The projector in room 12 has shown no picture since Sunday morning. We tried another cable and the remote.\r\n")
		}
	}
	text := mail.String()
	st := &store.Store{}
	st.SetSearchNormalizer(classify.Normalize)
	b.Run("words", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			st.IndexTerms("", text)
		}
	})
	// A batch's mails through one TermIndexer: the words of the mails
	// before are normalized already.
	b.Run("indexer", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		ix := st.NewTermIndexer()
		for b.Loop() {
			ix.Terms("", text)
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			seen := map[string]struct{}{}
			for _, t := range st.SearchTerms(text) {
				seen[t] = struct{}{}
			}
		}
	})
}
