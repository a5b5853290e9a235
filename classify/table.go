package classify

import (
	"math/bits"
	"unsafe"
)

// table maps n-gram hashes to feature numbers: open addressing with linear
// probing over one array, so a lookup, found or not, is usually one cache
// line. Scoring does hundreds of lookups per message, most of them misses,
// and this is a third faster at that than a Go map of the same keys. It is
// read-only once built.
type table struct {
	slots []slot
	shift uint  // a hash's top bits pick its first slot
	zero  int32 // feature of hash 0, which marks empty slots; -1 if none
	n     int   // entries
}

type slot struct {
	key uint64
	val int32
}

// newTable returns a table with room for n entries at most half full.
func newTable(n int) *table {
	size := 1 << bits.Len(uint(max(2*n, 8)-1))
	return &table{slots: make([]slot, size), shift: uint(64 - bits.TrailingZeros(uint(size))), zero: -1}
}

// put sets key to val; key must not be in the table yet.
func (t *table) put(key uint64, val int32) {
	t.n++
	if key == 0 {
		t.zero = val
		return
	}
	mask := uint64(len(t.slots) - 1)
	for i := key >> t.shift; ; i = (i + 1) & mask {
		if t.slots[i].key == 0 {
			t.slots[i] = slot{key, val}
			return
		}
	}
}

// get returns key's value and whether it is there.
func (t *table) get(key uint64) (int32, bool) {
	if key == 0 {
		return t.zero, t.zero >= 0
	}
	mask := uint64(len(t.slots) - 1)
	for i := key >> t.shift; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s.key == key {
			return s.val, true
		}
		if s.key == 0 {
			return 0, false
		}
	}
}

// prefetch asks for key's first slot ahead of a get: the table is far
// larger than the cache and a text's lookups go all over it.
func (t *table) prefetch(key uint64) {
	prefetch((*byte)(unsafe.Pointer(&t.slots[key>>t.shift])), int(unsafe.Sizeof(slot{})))
}
