package message

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads the durations Wasl's files are written in: a Go
// duration ("90s", "30m", "36h", "1h30m"), whole days ("7d"), or days then a
// Go duration ("1d12h"). Spaces around it are ignored; signs are not
// accepted (no setting is negative). Zero parses; callers that need a
// positive or bounded value check it. It lives here, in the package every
// other one may import, so the config and the knowledge bank read one
// grammar.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q (examples: 90s, 30m, 24h, 7d, 1d12h)", in)
	}
	if s == "" || s[0] == '-' || s[0] == '+' {
		return bad()
	}
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || days < 0 || days > int64(maxDuration/(24*time.Hour)) {
			return bad()
		}
		total, s = time.Duration(days)*24*time.Hour, s[i+1:]
		if s == "" {
			return total, nil
		}
		if s[0] == '-' || s[0] == '+' {
			return bad()
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil || rest > maxDuration-total {
		return bad()
	}
	return total + rest, nil
}

const maxDuration = time.Duration(1<<63 - 1)
