package classify

import (
	"math"
	"strconv"
)

// Feature kinds. Each kind hashes with its own seed so the word "ok" and the
// character bigram "ok" are different features.
const (
	kindWord   uint8 = iota // a word
	kindBigram              // two adjacent words
	kindPair                // two words at most pairWindow apart, in order
	kindChar                // character n-gram inside one word, with its edges
	kindText                // character n-gram of the running text, across words
	numKinds
)

var kindNames = [numKinds]string{"word", "bigram", "pair", "char", "text"}

var kindSeeds = [numKinds]uint64{
	0xcbf29ce484222325,
	0x84222325cbf29ce4,
	0x7f4a7c159e3779b9,
	0x9e3779b97f4a7c15,
	0x3c6ef372fe94f82b,
}

// Blocks are groups of kinds that are L2-normalized on their own before they
// are weighted and joined, so a long text's many character n-grams do not
// drown its few words.
const (
	blockWord = iota // words and bigrams
	blockPair
	blockChar
	blockText
	numBlocks
)

var kindBlock = [numKinds]uint8{blockWord, blockWord, blockPair, blockChar, blockText}

// featureOptions fixes how text becomes features.
type featureOptions struct {
	charMin, charMax int                // character n-grams inside words
	textMin, textMax int                // character n-grams of the running text
	pairWindow       int                // word pairs up to this many words apart (at most 16)
	weights          [numBlocks]float64 // weight of each block after its own L2 normalization
	maxBytes         int                // normalized text beyond this is not looked at
	maxTokenRunes    int                // in-word n-grams only from the first runes of a long token
}

// defaultFeatureOptions were tuned on clinc150 val (bench/classify.md): in
// order of what they bought, character n-grams across word boundaries (a
// point of accuracy over in-word ones alone), word pairs up to ten apart,
// no idf (tf-idf lost 0.4 points), and keeping n-grams seen once.
var defaultFeatureOptions = featureOptions{
	charMin:       1,
	charMax:       4,
	textMin:       3,
	textMax:       6,
	pairWindow:    10,
	weights:       [numBlocks]float64{blockWord: 0.8, blockPair: 1, blockChar: 1, blockText: 1.5},
	maxBytes:      2048,
	maxTokenRunes: 40,
}

// rawFeature is one occurrence of an n-gram in the padded normalized text:
// its hash and where it is, so a reason can name it later without the
// extractor allocating strings.
type rawFeature struct {
	hash         uint64
	start, end   int32
	start2, end2 int32 // second word of a pair
}

func (f rawFeature) kind() uint8 { return uint8(f.hash & kindMask) }

// A feature's hash carries its kind in the low three bits, so the training
// set can keep hashes alone.
const kindMask = 7

func hashString(kind uint8, s string) uint64 {
	return mix(fnv(kindSeeds[kind], s))&^kindMask | uint64(kind)
}

func hashPair(kind uint8, a, b string) uint64 {
	h := fnv(kindSeeds[kind], a)
	h ^= '|'
	h *= 0x100000001b3
	return mix(fnv(h, b))&^kindMask | uint64(kind)
}

// fnv continues an FNV-1a hash over s.
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

// mix is murmur3's 64-bit finalizer: FNV's low bits mix poorly.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// extract appends the n-grams of padded (" " + normalized text + " ") to
// out. offs is scratch for rune offsets.
func (o *featureOptions) extract(padded string, out []rawFeature, offs []int32) ([]rawFeature, []int32) {
	prev := int32(-1) // start of the previous word
	var wordsBuf [16][2]int32
	words := wordsBuf[:0] // the last pairWindow words
	n := len(padded)
	for i := 1; i < n; {
		// padded[i-1] is a space; the word is padded[i:j].
		j := i
		for j < n && padded[j] != ' ' {
			j++
		}
		if j == i {
			break
		}
		a, b := int32(i), int32(j)
		out = append(out, rawFeature{hash: hashString(kindWord, padded[a:b]), start: a, end: b})
		if prev >= 0 {
			out = append(out, rawFeature{hash: hashString(kindBigram, padded[prev:b]), start: prev, end: b})
		}
		prev = a

		// Pairs catch "change … name" with words in between.
		if len(words) == o.pairWindow {
			copy(words, words[1:])
			words = words[:len(words)-1]
		}
		for _, w := range words {
			out = append(out, rawFeature{
				hash:  hashPair(kindPair, padded[w[0]:w[1]], padded[a:b]),
				start: w[0], end: w[1], start2: a, end2: b,
			})
		}
		if o.pairWindow > 0 {
			words = append(words, [2]int32{a, b})
		}

		// In-word n-grams include the spaces around the word, so prefixes
		// and suffixes are features of their own. offs gets the rune
		// starts of padded[i-1 : j+1] and its end.
		offs = offs[:0]
		for k := i - 1; k <= j && len(offs) <= o.maxTokenRunes+1; k += runeLen(padded[k]) {
			offs = append(offs, int32(k))
		}
		last := offs[len(offs)-1]
		offs = append(offs, last+int32(runeLen(padded[last])))
		runes := len(offs) - 1
		for size := o.charMin; size <= o.charMax; size++ {
			for s := 0; s+size <= runes; s++ {
				cs, ce := offs[s], offs[s+size]
				out = append(out, rawFeature{hash: hashString(kindChar, padded[cs:ce]), start: cs, end: ce})
			}
		}
		i = j + 1
	}
	return o.extractText(padded, out, offs)
}

// extractText appends the character n-grams of the running text, spaces
// included: across word boundaries they carry short phrases and word order
// that survive misspellings ("y acc" in "my acount").
func (o *featureOptions) extractText(padded string, out []rawFeature, offs []int32) ([]rawFeature, []int32) {
	if o.textMin <= 0 {
		return out, offs
	}
	offs = offs[:0]
	for k := 0; k < len(padded); k += runeLen(padded[k]) {
		offs = append(offs, int32(k))
	}
	offs = append(offs, int32(len(padded)))
	runes := len(offs) - 1
	for size := o.textMin; size <= o.textMax; size++ {
		for s := 0; s+size <= runes; s++ {
			cs, ce := offs[s], offs[s+size]
			out = append(out, rawFeature{hash: hashString(kindText, padded[cs:ce]), start: cs, end: ce})
		}
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

// padText returns " " + the normalized text + " ", cut to maxBytes at a
// rune boundary.
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

// appendReason appends a feature's reason, kind:"text" and its weight
// (word:"projector" +0.123), to b.
func appendReason(b []byte, padded string, f rawFeature, weight float32) []byte {
	k := f.kind()
	b = append(b, kindNames[k]...)
	b = append(b, ':')
	if k == kindPair {
		b = strconv.AppendQuote(b, padded[f.start:f.end]+" … "+padded[f.start2:f.end2])
	} else {
		b = strconv.AppendQuote(b, padded[f.start:f.end])
	}
	b = append(b, ' ')
	if weight >= 0 {
		b = append(b, '+')
	}
	return strconv.AppendFloat(b, float64(weight), 'f', 3, 32)
}

// sublinear is the term-frequency weight 1 + ln(tf).
func sublinear(tf int32) float64 {
	if tf <= 1 {
		return 1
	}
	return 1 + math.Log(float64(tf))
}
