package classify

import (
	"regexp"
	"strings"
)

// StripQuoted removes from an email body what the customer did not write
// this time: quoted lines ("> …"), and everything from the first of these
// on:
//
//   - an attribution line, "On … wrote:" or "في … كتب:" (also when the mail
//     client wrapped it over two lines);
//   - "-----Original Message-----" and its Arabic form
//     "-----الرسالة الأصلية-----";
//   - an Outlook header block: "From:" (or "من:") followed within a few lines
//     by "Sent:"/"Date:" (or "تاريخ الإرسال:"/"أرسل:"/"التاريخ:");
//   - the signature separator "-- " (or a bare "--");
//   - a mobile trailer such as "Sent from my iPhone", "Get Outlook for
//     Android" or "أُرسلت من iPhone".
//
// What is left loses its trailing blank lines and separator rules. A message that is
// nothing but quotation becomes "".
func StripQuoted(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	kept := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, ">") {
			continue
		}
		if line == "-- " || trim == "--" || isCutLine(trim, lines[i+1:]) {
			break
		}
		kept = append(kept, line)
	}
	// Drop trailing blank lines and rules such as Outlook's "_____" above
	// its header block.
	for len(kept) > 0 && strings.Trim(kept[len(kept)-1], " \t_-=*") == "" {
		kept = kept[:len(kept)-1]
	}
	return strings.Join(kept, "\n")
}

var (
	// "On Mon, 3 Jun 2024 at 10:00, Sara <s@x.org> wrote:"; Gmail, Apple Mail
	// and Thunderbird all use this shape.
	attributionEN = regexp.MustCompile(`(?i)^on\b.*\bwrote:$`)
	// "في الأحد، ٢ يونيو ٢٠٢٤ في ١٠:٠٠ ص، سارة <s@x.org> كتب:"; Gmail in
	// Arabic. Tatweel and diacritics may decorate كتب.
	attributionAR = regexp.MustCompile(`^في\s.*\sك[\x{0640}\x{064B}-\x{0652}]*ت[\x{0640}\x{064B}-\x{0652}]*ب[\x{0640}\x{064B}-\x{0652}]*:$`)
	originalMsg   = regexp.MustCompile(`(?i)^-{2,}\s*(original message|الرسالة الأصلية|الرسالة الاصلية)\s*-{2,}$`)
	headerFrom    = regexp.MustCompile(`(?i)^\*?(from|من)\s*:\*?\s`)
	headerSent    = regexp.MustCompile(`(?i)^\*?(sent|date|تاريخ الإرسال|تاريخ الارسال|أرسل|ارسل|التاريخ)\s*:`)
)

// mobileTrailers start the trailer lines mail apps append, matched on the
// normalized line.
var mobileTrailers = []string{
	"sent from my ", "sent from outlook", "sent from mail for", "sent from yahoo mail",
	"sent from samsung", "sent from the all new aol", "get outlook for ",
	"ارسلت من ", "مرسل من ", "تم الارسال من ", "احصل علي outlook",
}

// isCutLine reports whether line starts what StripQuoted cuts off; rest are
// the lines after it.
func isCutLine(line string, rest []string) bool {
	if line == "" {
		return false
	}
	next := ""
	if len(rest) > 0 {
		next = strings.TrimSpace(rest[0])
	}
	switch {
	case attributionEN.MatchString(line),
		attributionAR.MatchString(line),
		originalMsg.MatchString(line):
		return true
	case strings.HasPrefix(strings.ToLower(line), "on ") && !strings.Contains(line, "wrote:") &&
		strings.HasSuffix(next, "wrote:") && len(line) < 200:
		// Attribution wrapped over two lines.
		return attributionEN.MatchString(line + " " + next)
	case strings.HasPrefix(line, "في ") && attributionAR.MatchString(line+" "+next) && len(line) < 300:
		return true
	case headerFrom.MatchString(line):
		for _, l := range rest[:min(len(rest), 4)] {
			if headerSent.MatchString(strings.TrimSpace(l)) {
				return true
			}
		}
		return false
	}
	norm := Normalize(line)
	if strings.Count(norm, " ") < 8 {
		for _, t := range mobileTrailers {
			if strings.HasPrefix(norm+" ", t) {
				return true
			}
		}
	}
	return false
}
