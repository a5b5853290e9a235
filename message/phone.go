package message

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns raw in E.164 (+966501234567). Numbers without a
// country code are read in defaultRegion (ISO 3166 alpha-2, e.g. "SA").
// Prefixes such as "whatsapp:" and "tel:" are dropped.
func NormalizePhone(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	for _, p := range []string{"whatsapp:", "tel:", "sms:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	if s == "" {
		return "", fmt.Errorf("empty phone number")
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(defaultRegion))
	if err != nil {
		return "", fmt.Errorf("parse phone number %q: %w", raw, err)
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("phone number %q is not a possible number", raw)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
