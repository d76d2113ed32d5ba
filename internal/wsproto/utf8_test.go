package wsproto

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// viable reports whether the stream p can still become valid UTF-8: p is
// valid, or appending at most three continuation bytes makes it valid. It is
// the reference for fail-fast behaviour, a brute-force search that asks
// utf8.Valid about each candidate completion.
//
// Trying all 64 continuation bytes at each of three positions costs a
// quarter of a million calls to utf8.Valid, so the search tries only the
// ends of the three ranges (80..8F, 90..9F, A0..BF) that UTF-8 tells apart.
// TestViableReducedAlphabet checks that this gives the same answers as the
// full search.
func viable(p []byte) bool {
	return viableSearch(p, 3, viableProbes)
}

var viableProbes = []byte{0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF}

var allContinuations = func() []byte {
	var b []byte
	for c := 0x80; c <= 0xBF; c++ {
		b = append(b, byte(c))
	}
	return b
}()

func viableSearch(p []byte, depth int, probes []byte) bool {
	buf := make([]byte, len(p), len(p)+depth)
	copy(buf, p)
	var search func(buf []byte, depth int) bool
	search = func(buf []byte, depth int) bool {
		if utf8.Valid(buf) {
			return true
		}
		if depth == 0 {
			return false
		}
		for _, c := range probes {
			if search(append(buf, c), depth-1) {
				return true
			}
		}
		return false
	}
	return search(buf, depth)
}

func TestViableReducedAlphabet(t *testing.T) {
	// The reduced search can only miss completions, so it suffices to
	// compare where it answers false. Every byte, and every byte that can
	// start a stream followed by every continuation byte, covers each
	// constraint UTF-8 places on the byte after a lead; the rest of a
	// character is unconstrained. A full search costs milliseconds, so
	// -short and -race check only the constrained cases.
	check := func(in []byte) bool {
		if viable(in) {
			return true
		}
		if viableSearch(in, 3, allContinuations) {
			t.Errorf("% x: reduced search says not viable, full search says viable", in)
			return true
		}
		return false
	}
	if testing.Short() || raceEnabled {
		for _, in := range [][]byte{{0xC0}, {0xE0, 0x9F}, {0xED, 0xA0}, {0xF0, 0x8F}, {0xF4, 0x90}, {0xF5}} {
			check(in)
		}
		return
	}
	for b := 0; b < 256; b++ {
		if !check([]byte{byte(b)}) || b < 0xC0 {
			continue
		}
		for c := 0x80; c <= 0xBF; c++ {
			check([]byte{byte(b), byte(c)})
		}
	}
}

type utf8Case struct {
	name  string
	in    string
	valid bool
	// bad is the offset of the byte that makes the stream invalid whatever
	// follows, or -1 if there is none (the input is valid or merely
	// truncated).
	bad int
}

// utf8Cases follows the sections of Markus Kuhn's UTF-8 decoder stress test
// and adds the split points the Autobahn test suite uses.
var utf8Cases = []utf8Case{
	// Correct text.
	{
		name:  "empty",
		in:    "",
		valid: true,
		bad:   -1,
	},
	{
		name:  "ascii",
		in:    "Hello, world!",
		valid: true,
		bad:   -1,
	},
	{
		name:  "kosme",
		in:    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
		valid: true,
		bad:   -1,
	},
	{
		name:  "mixed",
		in:    "Grüße, 世界! 🎉 κόσμε",
		valid: true,
		bad:   -1,
	},

	// Boundary code points.
	{
		name:  "U+0000",
		in:    "\x00",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+007F",
		in:    "\x7f",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+0080",
		in:    "\xc2\x80",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+07FF",
		in:    "\xdf\xbf",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+0800",
		in:    "\xe0\xa0\x80",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+D7FF",
		in:    "\xed\x9f\xbf",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+E000",
		in:    "\xee\x80\x80",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+FFFD",
		in:    "\xef\xbf\xbd",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+FFFE noncharacter",
		in:    "\xef\xbf\xbe",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+FFFF noncharacter",
		in:    "\xef\xbf\xbf",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+10000",
		in:    "\xf0\x90\x80\x80",
		valid: true,
		bad:   -1,
	},
	{
		name:  "U+10FFFF",
		in:    "\xf4\x8f\xbf\xbf",
		valid: true,
		bad:   -1,
	},

	// Beyond U+10FFFF.
	{
		name:  "U+110000",
		in:    "\xf4\x90\x80\x80",
		valid: false,
		bad:   1,
	},
	{
		name:  "F4 90 at end",
		in:    "\xf4\x90",
		valid: false,
		bad:   1,
	},
	{
		name:  "F4 BF",
		in:    "a\xf4\xbf",
		valid: false,
		bad:   2,
	},
	{
		name:  "U+1FFFFF as four bytes",
		in:    "\xf7\xbf\xbf\xbf",
		valid: false,
		bad:   0,
	},
	{
		name:  "F5",
		in:    "\xf5",
		valid: false,
		bad:   0,
	},
	{
		name:  "five bytes",
		in:    "\xf8\x88\x80\x80\x80",
		valid: false,
		bad:   0,
	},
	{
		name:  "six bytes",
		in:    "\xfc\x84\x80\x80\x80\x80",
		valid: false,
		bad:   0,
	},

	// Unexpected continuation bytes.
	{
		name:  "lone 80",
		in:    "\x80",
		valid: false,
		bad:   0,
	},
	{
		name:  "lone BF",
		in:    "\xbf",
		valid: false,
		bad:   0,
	},
	{
		name:  "80 BF after text",
		in:    "ab\x80\xbf",
		valid: false,
		bad:   2,
	},
	{
		name:  "extra continuation after 2-byte",
		in:    "\xc2\x80\x80",
		valid: false,
		bad:   2,
	},
	{
		name:  "extra continuation after 3-byte",
		in:    "\xe2\x82\xac\xbf",
		valid: false,
		bad:   3,
	},
	{
		name:  "extra continuation after 4-byte",
		in:    "\xf0\x9f\x98\x80\x80",
		valid: false,
		bad:   4,
	},

	// Lonely start bytes.
	{
		name:  "C2 then space",
		in:    "\xc2 ",
		valid: false,
		bad:   1,
	},
	{
		name:  "E1 then space",
		in:    "\xe1 ",
		valid: false,
		bad:   1,
	},
	{
		name:  "F1 then space",
		in:    "\xf1 ",
		valid: false,
		bad:   1,
	},
	{
		name:  "F3 80 then lead",
		in:    "\xf3\x80\xc2\x80",
		valid: false,
		bad:   2,
	},

	// Sequences with the last continuation byte missing.
	{
		name:  "C2 at end",
		in:    "abc\xc2",
		valid: false,
		bad:   -1,
	},
	{
		name:  "E0 A0 at end",
		in:    "\xe0\xa0",
		valid: false,
		bad:   -1,
	},
	{
		name:  "EF BF at end",
		in:    "\xef\xbf",
		valid: false,
		bad:   -1,
	},
	{
		name:  "F0 90 80 at end",
		in:    "\xf0\x90\x80",
		valid: false,
		bad:   -1,
	},
	{
		name:  "F4 8F BF at end",
		in:    "\xf4\x8f\xbf",
		valid: false,
		bad:   -1,
	},
	{
		name:  "ED 9F at end",
		in:    "\xed\x9f",
		valid: false,
		bad:   -1,
	},
	{
		name:  "concatenated incomplete sequences",
		in:    "\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf",
		valid: false,
		bad:   0,
	},
	{
		name:  "incomplete then incomplete",
		in:    "\xdf\xef\xbf",
		valid: false,
		bad:   1,
	},

	// Impossible bytes.
	{
		name:  "FE",
		in:    "\xfe",
		valid: false,
		bad:   0,
	},
	{
		name:  "FF",
		in:    "\xff",
		valid: false,
		bad:   0,
	},
	{
		name:  "FE FE FF FF",
		in:    "ok\xfe\xfe\xff\xff",
		valid: false,
		bad:   2,
	},

	// Overlong forms.
	{
		name:  "slash as C0 AF",
		in:    "\xc0\xaf",
		valid: false,
		bad:   0,
	},
	{
		name:  "slash as E0 80 AF",
		in:    "\xe0\x80\xaf",
		valid: false,
		bad:   1,
	},
	{
		name:  "slash as F0 80 80 AF",
		in:    "\xf0\x80\x80\xaf",
		valid: false,
		bad:   1,
	},
	{
		name:  "max overlong C1 BF",
		in:    "\xc1\xbf",
		valid: false,
		bad:   0,
	},
	{
		name:  "max overlong E0 9F BF",
		in:    "\xe0\x9f\xbf",
		valid: false,
		bad:   1,
	},
	{
		name:  "max overlong F0 8F BF BF",
		in:    "\xf0\x8f\xbf\xbf",
		valid: false,
		bad:   1,
	},
	{
		name:  "NUL as C0 80",
		in:    "\xc0\x80",
		valid: false,
		bad:   0,
	},
	{
		name:  "E0 80 at end",
		in:    "\xe0\x80",
		valid: false,
		bad:   1,
	},
	{
		name:  "F0 80 at end",
		in:    "\xf0\x80",
		valid: false,
		bad:   1,
	},

	// Surrogates.
	{
		name:  "U+D800",
		in:    "\xed\xa0\x80",
		valid: false,
		bad:   1,
	},
	{
		name:  "U+DB7F",
		in:    "\xed\xad\xbf",
		valid: false,
		bad:   1,
	},
	{
		name:  "U+DC00",
		in:    "\xed\xb0\x80",
		valid: false,
		bad:   1,
	},
	{
		name:  "U+DFFF",
		in:    "\xed\xbf\xbf",
		valid: false,
		bad:   1,
	},
	{
		name:  "ED A0 at end",
		in:    "\xed\xa0",
		valid: false,
		bad:   1,
	},
	{
		name:  "surrogate pair",
		in:    "\xed\xa0\x80\xed\xb0\x80",
		valid: false,
		bad:   1,
	},

	// Autobahn 6.3.1 and 6.4.x: invalid sequences inside otherwise valid
	// text; each fails at the byte after F4, not at the end of the
	// sequence.
	{
		name:  "autobahn 6.3.1",
		in:    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
		valid: false,
		bad:   12,
	},
	{
		name:  "autobahn 6.4.1",
		in:    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited",
		valid: false,
		bad:   12,
	},
	{
		name:  "autobahn 6.4.3",
		in:    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
		valid: false,
		bad:   12,
	},
}

// generatedUTF8Inputs returns inputs built by loops over whole byte ranges,
// in the spirit of the stress test's "all lonely start bytes" sections.
func generatedUTF8Inputs() [][]byte {
	var ins [][]byte
	for b := 0; b < 256; b++ {
		ins = append(ins,
			[]byte{byte(b)},
			[]byte{byte(b), ' '},
			[]byte{'x', byte(b), 0x80, 0x80, 0x80, 'y'},
		)
	}
	// Every lead byte followed by every continuation byte, then completed
	// with continuation bytes; and the same truncated.
	for b := 0xC0; b <= 0xFF; b++ {
		for c := 0x80; c <= 0xBF; c++ {
			ins = append(ins, []byte{byte(b), byte(c), 0xBF, 0x80, 'z'}, []byte{byte(b), byte(c)})
		}
	}
	// Boundary code points and their neighbours, encoded and truncated.
	for _, r := range []rune{0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xCFFF, 0xD000, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF} {
		enc := utf8.AppendRune(nil, r)
		for i := 1; i <= len(enc); i++ {
			ins = append(ins, enc[:i], append(append([]byte{'a'}, enc[:i]...), 'b'))
		}
	}
	return ins
}

// checkFeeds feeds in to validators in every way the tests care about and
// compares each verdict with the oracles.
func checkFeeds(t *testing.T, in []byte) {
	t.Helper()
	want := utf8.Valid(in)
	if got := ValidUTF8(in); got != want {
		t.Fatalf("ValidUTF8(% x) = %v, utf8.Valid = %v", in, got, want)
	}

	// ok[k] is whether in[:k] is still viable.
	ok := make([]bool, len(in)+1)
	for k := range ok {
		ok[k] = viable(in[:k])
		if k > 0 && ok[k] && !ok[k-1] {
			t.Fatalf("oracle not monotonic at %d in % x", k, in)
		}
	}

	// Whole.
	var v UTF8Validator
	if got := v.Feed(in); got != ok[len(in)] {
		t.Fatalf("feed(% x) = %v, want %v", in, got, ok[len(in)])
	}
	if got := v.Complete(); got != want {
		t.Fatalf("after feed(% x): complete() = %v, want %v", in, got, want)
	}

	// Every split into two feeds.
	for i := 0; i <= len(in); i++ {
		v.Reset()
		if got := v.Feed(in[:i]); got != ok[i] {
			t.Fatalf("split at %d of % x: first feed = %v, want %v", i, in, got, ok[i])
		}
		if got := v.Feed(in[i:]); got != ok[len(in)] {
			t.Fatalf("split at %d of % x: second feed = %v, want %v", i, in, got, ok[len(in)])
		}
		if got := v.Complete(); got != want {
			t.Fatalf("split at %d of % x: complete() = %v, want %v", i, in, got, want)
		}
	}

	// Byte at a time, with empty feeds in between.
	v.Reset()
	for i := range in {
		if got := v.Feed(in[i : i+1]); got != ok[i+1] {
			t.Fatalf("byte %d of % x: feed = %v, want %v", i, in, got, ok[i+1])
		}
		if got := v.Feed(nil); got != ok[i+1] {
			t.Fatalf("byte %d of % x: empty feed = %v, want %v", i, in, got, ok[i+1])
		}
		if got := v.Complete(); got != (ok[i+1] && utf8.Valid(in[:i+1])) {
			t.Fatalf("byte %d of % x: complete() = %v", i, in, got)
		}
	}

	// Every split into three feeds, for short inputs.
	if len(in) <= 24 {
		for i := 0; i <= len(in); i++ {
			for j := i; j <= len(in); j++ {
				v.Reset()
				got := [3]bool{v.Feed(in[:i]), v.Feed(in[i:j]), v.Feed(in[j:])}
				if got != [3]bool{ok[i], ok[j], ok[len(in)]} {
					t.Fatalf("splits at %d, %d of % x: feeds = %v, want %v %v %v", i, j, in, got, ok[i], ok[j], ok[len(in)])
				}
				if v.Complete() != want {
					t.Fatalf("splits at %d, %d of % x: complete() = %v, want %v", i, j, in, v.Complete(), want)
				}
			}
		}
	}
}

func TestUTF8Validator(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if got := utf8.Valid(in); got != tc.valid {
				t.Fatalf("utf8.Valid = %v, table says %v", got, tc.valid)
			}
			// The byte at bad is the first one that cannot be part of any
			// valid stream, according to the oracle.
			bad := -1
			for k := 1; k <= len(in); k++ {
				if !viable(in[:k]) {
					bad = k - 1
					break
				}
			}
			if bad != tc.bad {
				t.Fatalf("oracle fails at %d, table says %d", bad, tc.bad)
			}
			checkFeeds(t, in)
		})
	}
}

func TestUTF8ValidatorGenerated(t *testing.T) {
	for _, in := range generatedUTF8Inputs() {
		checkFeeds(t, in)
	}
}

// TestUTF8ValidatorPadded places each table input at many offsets inside
// ASCII and multi-byte text, so that the word-at-a-time paths see the
// interesting bytes at every position within a word and near the end.
func TestUTF8ValidatorPadded(t *testing.T) {
	pads := []string{
		"",
		"a",
		"abcdefg",
		"abcdefgh",
		"abcdefghijklmno",
		"abcdefghijklmnop",
		"abcdefghijklmnopq",
		"é",
		"日本",
		"a😀b",
		"κόσμε κόσμε κόσμε κόσμε",
	}
	for _, tc := range utf8Cases {
		for _, pre := range pads {
			for _, post := range pads {
				in := []byte(pre + tc.in + post)
				want := utf8.Valid(in)
				if got := ValidUTF8(in); got != want {
					t.Fatalf("ValidUTF8(% x) = %v, want %v", in, got, want)
				}
				// A truncated character fails at the first byte of
				// the padding after it, which never starts with a
				// continuation byte.
				at := -1
				switch {
				case tc.bad >= 0:
					at = len(pre) + tc.bad
				case !tc.valid && post != "":
					at = len(pre) + len(tc.in)
				}
				var v UTF8Validator
				if got := v.Feed(in); got != (at < 0) {
					t.Fatalf("feed(% x) = %v, want %v", in, got, at < 0)
				}
				if got := v.Complete(); got != want {
					t.Fatalf("after feed(% x): complete() = %v, want %v", in, got, want)
				}
				// Split just before and just after the failing byte.
				if at >= 0 {
					v.Reset()
					if !v.Feed(in[:at]) {
						t.Fatalf("feed(% x) = false before the bad byte", in[:at])
					}
					if v.Feed(in[at : at+1]) {
						t.Fatalf("feed(% x) after % x = true at the bad byte", in[at:at+1], in[:at])
					}
					if v.Feed(in[at+1:]) || v.Complete() {
						t.Fatalf("validator of % x recovered after failing", in)
					}
				}
			}
		}
	}
}

// TestUTF8ValidatorRandom compares with utf8.Valid and the viability oracle
// on pseudo-random mixtures of valid characters and stray bytes, long
// enough for the word-at-a-time paths, with random split points.
func TestUTF8ValidatorRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "hello ", "é", "ß", "世", "界", "😀", "\U0010FFFF", "\u0800", "\uD7FF", "\uE000", "\x00"}
	strays := []byte{0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xA0, 0x90, 0x8F}
	n := 3000
	if testing.Short() || raceEnabled {
		n = 300
	}
	for range n {
		var b []byte
		length := rng.IntN(200)
		for len(b) < length {
			if rng.IntN(40) == 0 {
				b = append(b, strays[rng.IntN(len(strays))])
			} else {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
		}
		want := utf8.Valid(b)
		if got := ValidUTF8(b); got != want {
			t.Fatalf("ValidUTF8(% x) = %v, want %v", b, got, want)
		}
		checkFailPoint(t, b, rng.IntN(len(b)+1))
	}
}

// checkFailPoint feeds in split at i and byte by byte, and checks the
// verdicts with as few oracle calls as possible: viability only ever goes
// from true to false, so it suffices to check where the validator first
// fails.
func checkFailPoint(t *testing.T, in []byte, i int) {
	t.Helper()
	want := utf8.Valid(in)

	var v UTF8Validator
	first := v.Feed(in[:i])
	if first != viable(in[:i]) {
		t.Fatalf("split at %d of % x: first feed = %v, want %v", i, in, first, !first)
	}
	second := v.Feed(in[i:])
	if first {
		if second != viable(in) {
			t.Fatalf("split at %d of % x: second feed = %v, want %v", i, in, second, !second)
		}
	} else if second {
		t.Fatalf("split at %d of % x: second feed = true after the first failed", i, in)
	}
	if v.Complete() != want {
		t.Fatalf("split at %d of % x: complete() = %v, want %v", i, in, v.Complete(), want)
	}

	v.Reset()
	fail := -1
	for k := range in {
		if !v.Feed(in[k : k+1]) {
			fail = k
			break
		}
	}
	switch {
	case fail < 0:
		if !viable(in) {
			t.Fatalf("byte-wise feed of % x never failed; the stream is not viable", in)
		}
	case viable(in[:fail+1]):
		t.Fatalf("byte-wise feed of % x failed at %d; the stream is still viable there", in, fail)
	case !viable(in[:fail]):
		t.Fatalf("byte-wise feed of % x failed at %d, later than it could have", in, fail)
	}
	if fail >= 0 && (v.Feed([]byte("a")) || v.Complete()) {
		t.Fatalf("validator of % x recovered after failing", in)
	}
	if v.Complete() != (fail < 0 && want) {
		t.Fatalf("byte-wise feed of % x: complete() = %v, want %v", in, v.Complete(), want)
	}
}

func FuzzUTF8Validator(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		// A few hundred bytes exercise every path of the scanner; longer
		// inputs only slow the brute-force oracle down.
		in = in[:min(len(in), 1024)]
		want := utf8.Valid(in)
		if got := ValidUTF8(in); got != want {
			t.Fatalf("ValidUTF8(% x) = %v, want %v", in, got, want)
		}
		checkFailPoint(t, in, int(split)%(len(in)+1))
	})
}

func TestUTF8ValidatorAllocs(t *testing.T) {
	in := []byte(strings.Repeat("Grüße, 世界! 🎉 ", 10))
	var v UTF8Validator
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Feed(in[:7])
		v.Feed(in[7:])
		ValidUTF8(in)
	})
	if allocs != 0 {
		t.Fatalf("allocations per run = %v, want 0", allocs)
	}
}

// benchText returns valid UTF-8 of about size bytes made by repeating
// sample, cut at a character boundary.
func benchText(sample string, size int) []byte {
	b := []byte(strings.Repeat(sample, size/len(sample)+1))[:size]
	for !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return b
}

var benchSamples = []struct {
	name   string
	sample string
}{
	{
		name:   "ascii",
		sample: "The quick brown fox jumps over the lazy dog; {\"id\": 12345, \"ok\": true}\n",
	},
	{
		name:   "latin",
		sample: "Größere Änderungen am Straßenverkehrsgesetz, déjà-vu à l'hôtel, señor niño. ",
	},
	{
		name:   "mixed",
		sample: "WebSocket 协议 (RFC 6455) はフルデュプレックス通信を提供します — naïve café, 中文和 English。",
	},
	{
		name:   "cjk",
		sample: "全二重通信を単一のTCP接続上で提供する通信プロトコルです。这是一个网络传输协议。",
	},
	{
		name:   "emoji",
		sample: "🎉🚀😀👍🏽🔥 ✨🌍💬 ",
	},
}

func BenchmarkUTF8(b *testing.B) {
	for _, s := range benchSamples {
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			p := benchText(s.sample, size)
			name := fmt.Sprintf("%s/%d", s.name, size)
			b.Run(name+"/utf8.Valid", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				for b.Loop() {
					if !utf8.Valid(p) {
						b.Fatal("invalid")
					}
				}
			})
			b.Run(name+"/validUTF8", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				for b.Loop() {
					if !ValidUTF8(p) {
						b.Fatal("invalid")
					}
				}
			})
			b.Run(name+"/feed", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				var v UTF8Validator
				for b.Loop() {
					v.Reset()
					if !v.Feed(p) || !v.Complete() {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}

// BenchmarkUTF8Chunked feeds 64 KiB of mixed text in 1000-byte chunks, so
// that characters are split between feeds.
func BenchmarkUTF8Chunked(b *testing.B) {
	p := benchText(benchSamples[2].sample, 64<<10)
	b.SetBytes(int64(len(p)))
	var v UTF8Validator
	for b.Loop() {
		v.Reset()
		for q := p; len(q) > 0; {
			n := min(len(q), 1000)
			if !v.Feed(q[:n]) {
				b.Fatal("invalid")
			}
			q = q[n:]
		}
		if !v.Complete() {
			b.Fatal("incomplete")
		}
	}
}
