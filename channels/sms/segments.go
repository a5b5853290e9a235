package sms

import (
	"strings"
	"unicode/utf16"
)

// The GSM 03.38 default alphabet (without the escape code) and its
// extension table, whose characters take two septets (escape + code).
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// Segments reports how many SMS segments text takes and whether it must be
// sent as UCS-2. Text made only of GSM-7 characters takes 160 septets in a
// single segment or 153 per segment when concatenated, extension characters
// ({ } [ ] ~ \ | ^ € and form feed) counting two; anything else (Arabic,
// emoji) makes the whole text UCS-2: 70 UTF-16 units single, 67 per
// concatenated segment. As carriers do, an escape pair or a surrogate pair
// is never split between segments. Empty text takes no segment.
//
// Twilio's optional "smart encoding" (replacing look-alikes such as curly
// quotes by GSM-7 characters) is not assumed.
func Segments(text string) (segments int, ucs2 bool) {
	if text == "" {
		return 0, false
	}
	size := gsmSize
	single, multi := 160, 153
	for _, r := range text {
		if gsmSize(r) == 0 {
			ucs2 = true
			size = utf16.RuneLen
			single, multi = 70, 67
			break
		}
	}
	total := 0
	for _, r := range text {
		total += size(r)
	}
	if total <= single {
		return 1, ucs2
	}
	segments, used := 1, 0
	for _, r := range text {
		n := size(r)
		if used+n > multi {
			segments++
			used = 0
		}
		used += n
	}
	return segments, ucs2
}

// gsmSize is the septets r takes in GSM-7, 0 if it cannot be encoded.
func gsmSize(r rune) int {
	switch {
	case strings.ContainsRune(gsmBasic, r):
		return 1
	case strings.ContainsRune(gsmExtension, r):
		return 2
	}
	return 0
}

// FitSegments reports whether text fits in budget SMS segments.
func FitSegments(text string, budget int) bool {
	n, _ := Segments(text)
	return n <= budget
}

// ShortLimit is how many characters a reply cut to fit budget segments may
// keep. The cut ends in "…", which is not GSM-7, so the whole text goes as
// UCS-2 whatever the rest is: 70 characters in one segment, 67 per segment
// when concatenated. Characters outside the BMP (emoji) count twice in
// UCS-2 and are not expected in a cut reply.
func ShortLimit(budget int) int {
	if budget <= 1 {
		return 70
	}
	return 67 * budget
}
