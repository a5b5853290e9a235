package classify

import "unicode"

// Language is the script a message is written in.
type Language string

// Languages DetectLanguage tells apart.
const (
	Arabic  Language = "ar"
	English Language = "en"
	Mixed   Language = "mixed"
	Unknown Language = "" // no Arabic or Latin letters at all
)

// Shares of Arabic letters among Arabic+Latin letters. At or above
// arabicShare the text is Arabic; at or below englishShare it is English;
// between, it is mixed. A fifth of the letters in the other script is about
// one borrowed word in a short message ("البروجكتر HDMI ما يشتغل" is still
// Arabic), while code-switched sentences ("ابي projector للقاعة 5") land in
// mixed.
const (
	arabicShare  = 0.8
	englishShare = 0.2
)

// DetectLanguage tells Arabic, English and mixed text apart from the script
// of its letters. Letters of other scripts and digits are not counted.
func DetectLanguage(s string) Language {
	var ar, lat int
	for _, r := range s {
		switch {
		case r < 0x80:
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				lat++
			}
		case !unicode.IsLetter(r):
		case unicode.Is(unicode.Arabic, r):
			ar++
		case unicode.Is(unicode.Latin, r):
			lat++
		}
	}
	if ar+lat == 0 {
		return Unknown
	}
	share := float64(ar) / float64(ar+lat)
	switch {
	case share >= arabicShare:
		return Arabic
	case share <= englishShare:
		return English
	}
	return Mixed
}
