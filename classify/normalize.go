package classify

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalize folds text for matching only; the original text is what is stored
// and shown. Rules, in the order a rune meets them:
//
//   - First, compatibility forms are folded (Unicode NFKC): Arabic
//     presentation forms U+FB50–U+FDFF and U+FE70–U+FEFF, which text copied
//     from PDFs is full of ("ﺍﻟﺒﺮﻭﺟﻜﺘﺮ", the lam-alef ligature "ﻻ"), become
//     the ordinary letters; so do full-width Latin and ligatures such as "ﬁ".
//   - Arabic diacritics are removed: harakat U+064B–U+0652, superscript alef
//     U+0670, Quranic annotation marks U+0610–U+061A, U+06D6–U+06DC,
//     U+06DF–U+06E8, U+06EA–U+06ED; so is tatweel U+0640.
//   - Alef forms أ إ آ ٱ become ا; alef maksura ى becomes ي; taa marbuta ة
//     becomes ه. Hamza on a seat becomes the bare seat (ؤ → و, ئ → ي) because
//     that is how customers type without a hamza key ("سوال" for "سؤال",
//     "مسايل" for "مسائل"); the lone hamza ء is kept. Persian yeh ی and keheh ک
//     (Persian/Urdu keyboards) become ي and ك.
//   - Arabic-Indic ٠–٩ and Persian ۰–۹ digits become ASCII 0–9.
//   - Letters are case-folded (lower case).
//   - Apostrophes (' ’ ‘ ` ´) are dropped so "don't" and "dont" match.
//   - Other punctuation and symbols, Arabic ، ؛ ؟ included, become spaces.
//   - Invisible format characters (ZWNJ, ZWJ, LRM/RLM, BOM…) are dropped.
//   - A space is put where Arabic script meets Latin script inside a word
//     ("الprojector" → "ال projector"), so each part matches on its own.
//   - Runs of white space collapse to one space; leading and trailing space is
//     trimmed.
func Normalize(s string) string {
	// The check is cheap and most text is already NFKC; only text that
	// needs folding pays for it.
	if !norm.NFKC.IsNormalString(s) {
		// The spacing accent ´ serves as an apostrophe ("it´s"); NFKC
		// would make it a space and a combining accent.
		s = norm.NFKC.String(strings.ReplaceAll(s, "´", ""))
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppresses leading space and runs of spaces
	prev := scriptOther
	for _, r := range s {
		r = foldRune(r)
		switch {
		case r == dropRune:
			continue
		case r == ' ':
			if !space {
				b.WriteByte(' ')
				space = true
			}
			prev = scriptOther
			continue
		}
		sc := scriptOf(r)
		if !space && sc != scriptOther && prev != scriptOther && sc != prev {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		space = false
		prev = sc
	}
	out := b.String()
	return strings.TrimSuffix(out, " ")
}

// dropRune marks a rune Normalize removes; it is a noncharacter that no text
// should carry.
const dropRune = '\uFFFF'

// foldRune maps one rune to its normalized form: dropRune to remove it, ' '
// for a separator.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + ('a' - 'A')
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case r == '\'' || r == '`':
			return dropRune
		}
		return ' ' // ASCII punctuation, symbols, controls and white space
	}
	switch {
	case r >= 0x064B && r <= 0x0652, r == 0x0670, r == 0x0640,
		r >= 0x0610 && r <= 0x061A, r >= 0x06D6 && r <= 0x06DC,
		r >= 0x06DF && r <= 0x06E8, r >= 0x06EA && r <= 0x06ED:
		return dropRune
	case r >= 0x0660 && r <= 0x0669:
		return '0' + (r - 0x0660)
	case r >= 0x06F0 && r <= 0x06F9:
		return '0' + (r - 0x06F0)
	}
	switch r {
	case 'أ', 'إ', 'آ', 'ٱ':
		return 'ا'
	case 'ى', 'ی', 'ئ':
		return 'ي'
	case 'ة':
		return 'ه'
	case 'ؤ':
		return 'و'
	case 'ک':
		return 'ك'
	case '’', '‘', '´':
		return dropRune
	}
	switch {
	case unicode.IsLetter(r):
		return unicode.ToLower(r)
	case unicode.IsDigit(r) || unicode.IsMark(r):
		return r
	case unicode.Is(unicode.Cf, r):
		return dropRune
	}
	return ' ' // punctuation (، ؛ ؟ included), symbols, white space, controls
}

type script uint8

const (
	scriptOther script = iota
	scriptArabic
	scriptLatin
)

func scriptOf(r rune) script {
	switch {
	case r >= 'a' && r <= 'z':
		return scriptLatin
	case r < utf8.RuneSelf:
		return scriptOther
	case unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r):
		return scriptArabic
	case unicode.Is(unicode.Latin, r):
		return scriptLatin
	}
	return scriptOther
}
