package tickets

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSurveyLinks(t *testing.T) {
	s, err := NewSurveySigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSurveySigner([]byte("another key, another key, another"))
	now := time.Date(2026, 11, 8, 9, 0, 0, 0, time.UTC)
	link := SurveyLink{Kind: SurveyTicket, ID: 4711, Expires: now.Add(14 * 24 * time.Hour)}
	tok := s.Sign(link)
	if len(tok) > 40 {
		t.Errorf("token %q is %d characters: too long for an SMS", tok, len(tok))
	}
	got, err := s.Verify(tok, now)
	if err != nil || got != link {
		t.Fatalf("Verify(own token) = %+v, %v; want %+v", got, err, link)
	}
	// Every single-character change is refused, as is a token of another
	// key, a cut one and one for another ticket.
	for i := range tok {
		for _, c := range "AZaz09-_" {
			if byte(c) == tok[i] {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if l, err := s.Verify(bad, now); err == nil {
				t.Fatalf("tampered token %q accepted as %+v", bad, l)
			}
		}
	}
	for name, bad := range map[string]string{
		"other key":    other.Sign(link),
		"cut":          tok[:len(tok)-3],
		"empty":        "",
		"not base64":   "!!!!",
		"long":         strings.Repeat("A", 200),
		"other ticket": s.Sign(SurveyLink{Kind: SurveyTicket, ID: 4712, Expires: link.Expires})[:10] + tok[10:],
	} {
		if _, err := s.Verify(bad, now); !errors.Is(err, ErrSurveyTampered) {
			t.Errorf("%s: Verify = %v, want ErrSurveyTampered", name, err)
		}
	}
	if _, err := s.Verify(tok, link.Expires); !errors.Is(err, ErrSurveyExpired) {
		t.Errorf("at expiry: Verify = %v, want ErrSurveyExpired", err)
	}
	if _, err := s.Verify(tok, link.Expires.Add(-time.Second)); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
}
