package classify

import (
	"math"
	"strconv"
)

// Feature kinds. Each kind hashes with its own seed so the word "ok" and the
// character bigram "ok" are different features.
const (
	kindWord uint8 = iota
	kindBigram
	kindChar
	kindPair
	numKinds
)

var kindNames = [numKinds]string{"word", "bigram", "char", "pair"}

var kindSeeds = [numKinds]uint64{
	0xcbf29ce484222325,
	0x84222325cbf29ce4,
	0x9e3779b97f4a7c15,
	0x7f4a7c159e3779b9,
}

// featureOptions fixes how text becomes features. The values used are the
// ones tuned on clinc150 val (see bench/classify.md).
type featureOptions struct {
	charMin, charMax int     // character n-gram lengths, within word boundaries
	wordWeight       float64 // scale of word and bigram features before L2 normalization
	charWeight       float64 // scale of character n-gram features
	pairWeight       float64 // scale of word-pair features
	pairWindow       int     // word pairs up to this many words apart; 0: none
	maxBytes         int     // normalized text beyond this is not looked at
	maxTokenRunes    int     // character n-grams only for the first runes of a long token
}

var defaultFeatureOptions = featureOptions{
	charMin:       2,
	charMax:       5,
	wordWeight:    1,
	charWeight:    1,
	pairWeight:    1,
	pairWindow:    6,
	maxBytes:      4096,
	maxTokenRunes: 40,
}

// rawFeature is one occurrence of an n-gram in the padded normalized text:
// its hash and where it is, so a reason can name it later without the
// extractor allocating strings.
type rawFeature struct {
	hash         uint64
	start, end   int32
	start2, end2 int32 // second word of a pair
	kind         uint8
}

func hashString(seed uint64, s string) uint64 {
	return mix(fnv(seed, s))
}

func hashPair(seed uint64, a, b string) uint64 {
	h := fnv(seed, a)
	h ^= '|'
	h *= 0x100000001b3
	return mix(fnv(h, b))
}

func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

func mix(h uint64) uint64 {
	// Finalizer (murmur3 fmix64): FNV's low bits mix poorly.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// extract appends the n-grams of padded (" " + normalized text + " ") to out.
// offs is scratch for rune offsets.
func (o *featureOptions) extract(padded string, out []rawFeature, offs []int32) ([]rawFeature, []int32) {
	prevStart := int32(-1)
	var wordsBuf [16][2]int32
	words := wordsBuf[:0]
	n := len(padded)
	for i := 1; i < n; {
		// padded[i-1] is a space; find the token [i, j).
		j := i
		for j < n && padded[j] != ' ' {
			j++
		}
		if j == i {
			break
		}
		a, b := int32(i), int32(j)
		out = append(out, rawFeature{hash: hashString(kindSeeds[kindWord], padded[a:b]), start: a, end: b, kind: kindWord})
		if prevStart >= 0 {
			out = append(out, rawFeature{hash: hashString(kindSeeds[kindBigram], padded[prevStart:b]), start: prevStart, end: b, kind: kindBigram})
		}
		prevStart = a
		if o.pairWindow > 0 {
			// Word pairs catch "change … name" however many words sit between.
			if len(words) == o.pairWindow {
				copy(words, words[1:])
				words = words[:len(words)-1]
			}
			for _, w := range words {
				out = append(out, rawFeature{
					hash:  hashPair(kindSeeds[kindPair], padded[w[0]:w[1]], padded[a:b]),
					start: w[0], end: w[1], start2: a, end2: b, kind: kindPair,
				})
			}
			words = append(words, [2]int32{a, b})
		}

		// Character n-grams over the token with its surrounding spaces, so
		// prefixes and suffixes are features of their own.
		offs = offs[:0]
		for k := i - 1; k <= j; {
			offs = append(offs, int32(k))
			if len(offs) > o.maxTokenRunes+2 {
				break
			}
			k += runeLen(padded[k])
		}
		// offs holds rune starts of padded[i-1 : j+1]; add the end.
		last := offs[len(offs)-1]
		offs = append(offs, last+int32(runeLen(padded[last])))
		runes := len(offs) - 1
		for size := o.charMin; size <= o.charMax; size++ {
			for s := 0; s+size <= runes; s++ {
				cs, ce := offs[s], offs[s+size]
				out = append(out, rawFeature{hash: hashString(kindSeeds[kindChar], padded[cs:ce]), start: cs, end: ce, kind: kindChar})
			}
		}
		i = j + 1
	}
	return out, offs
}

// runeLen is the length of the UTF-8 sequence that starts with byte c; the
// text is valid UTF-8 because Normalize wrote it.
func runeLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}

// padText returns " " + the normalized text + " ", cut to maxBytes at a rune
// boundary.
func (o *featureOptions) padText(norm string) string {
	if len(norm) > o.maxBytes {
		cut := o.maxBytes
		for cut > 0 && norm[cut]&0xC0 == 0x80 {
			cut--
		}
		norm = norm[:cut]
	}
	return " " + norm + " "
}

func featureName(padded string, f rawFeature) string {
	if f.kind == kindPair {
		return kindNames[f.kind] + ":" + strconv.Quote(padded[f.start:f.end]+" … "+padded[f.start2:f.end2])
	}
	return kindNames[f.kind] + ":" + strconv.Quote(padded[f.start:f.end])
}

// sublinear is the term-frequency weight 1 + ln(tf).
func sublinear(tf int32) float64 {
	if tf <= 1 {
		return 1
	}
	return 1 + math.Log(float64(tf))
}
