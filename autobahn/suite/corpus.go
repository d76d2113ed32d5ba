package suite

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"unicode/utf8"
)

// The compression cases send slices of five data sets. Autobahn ships real
// files (a JSON report, a bitmap picture, a German book, an HTML report and a
// PDF); the suite generates look-alikes of the same sizes and kinds instead,
// deterministically, so that runs can be compared.

// corpus is one data set of the compression cases.
type corpus struct {
	name   string
	desc   string
	binary bool // sent as binary messages; otherwise as text
	size   int
	gen    func(size int) []byte

	once  sync.Once
	data  []byte
	runes []int // start offset of every code point (text only)
}

func (c *corpus) load() {
	c.once.Do(func() {
		c.data = c.gen(c.size)
		if !c.binary {
			for i := range string(c.data) {
				c.runes = append(c.runes, i)
			}
		}
	})
}

// units is the length of the data set in the units messages are cut in:
// octets for binary data, code points for text.
func (c *corpus) units() int {
	c.load()
	if c.binary {
		return len(c.data)
	}
	return len(c.runes)
}

// slice returns the units [from, to) of the data set.
func (c *corpus) slice(from, to int) []byte {
	c.load()
	if c.binary {
		return c.data[from:to]
	}
	end := len(c.data)
	if to < len(c.runes) {
		end = c.runes[to]
	}
	return c.data[c.runes[from]:end]
}

var (
	corpusJSON   = &corpus{name: "json", desc: "Large JSON document", size: 194056, gen: genJSON}
	corpusBitmap = &corpus{name: "bitmap", desc: "Bitmap picture, 512x512, 8 bit grey", binary: true, size: 263222, gen: genBitmap}
	corpusProse  = &corpus{name: "prose", desc: "Human readable text in German", binary: true, size: 222218, gen: genProse}
	corpusHTML   = &corpus{name: "html", desc: "Large HTML document", size: 263647, gen: genHTML}
	corpusPDF    = &corpus{name: "pdf", desc: "A larger PDF-like document (mostly compressed streams)", binary: true, size: 1042328, gen: genPDF}
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// sampleIDs returns case-like IDs for the generated reports.
func sampleIDs() []string {
	var ids []string
	for f := 1; f <= 13; f++ {
		for s := 1; s <= 6; s++ {
			for c := 1; c <= 12; c++ {
				ids = append(ids, fmt.Sprintf("%d.%d.%d", f, s, c))
			}
		}
	}
	return ids
}

// fit cuts or pads b to exactly n octets, cutting text at a code point
// boundary and padding with spaces.
func fit(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
		// Drop a code point cut in half.
		i := len(b) - 1
		for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
			i--
		}
		if i >= 0 && !utf8.FullRune(b[i:]) {
			b = b[:i]
		}
	}
	for len(b) < n {
		b = append(b, ' ')
	}
	return b
}

// genJSON writes a conformance report: agents, cases and verdicts. Very
// repetitive, like the original.
func genJSON(n int) []byte {
	r := newRand(1)
	verdicts := []string{"OK", "OK", "OK", "OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"}
	var b strings.Builder
	b.WriteString("{\n")
	for agent := 0; b.Len() < n; agent++ {
		name := fmt.Sprintf("Agent%d/%d.%d.%d", agent, r.IntN(4), r.IntN(10), r.IntN(20))
		fmt.Fprintf(&b, "   %q: {\n", name)
		for _, c := range sampleIDs() {
			if b.Len() >= n {
				break
			}
			v := verdicts[r.IntN(len(verdicts))]
			fmt.Fprintf(&b, "      %q: {\n         \"behavior\": %q,\n         \"behaviorClose\": \"OK\",\n         \"duration\": %d,\n         \"remoteCloseCode\": %d,\n         \"reportfile\": \"agent%d_case_%s.json\"\n      },\n",
				c, v, 1+r.IntN(40), 1000+2*r.IntN(2), agent, strings.ReplaceAll(c, ".", "_"))
		}
		b.WriteString("   },\n")
	}
	return fit([]byte(b.String()), n)
}

// genBitmap draws a smooth, noisy grey picture in the Windows bitmap format
// (8 bits per pixel with a grey palette): it compresses poorly, like a photo.
func genBitmap(n int) []byte {
	const w, h = 512, 512
	r := newRand(2)
	b := make([]byte, 0, n)
	b = append(b, 'B', 'M')
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 54+1024)
	b = binary.LittleEndian.AppendUint32(b, 40)
	b = binary.LittleEndian.AppendUint32(b, w)
	b = binary.LittleEndian.AppendUint32(b, h)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 8)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, w*h)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 256)
	b = binary.LittleEndian.AppendUint32(b, 0)
	for i := range 256 {
		b = append(b, byte(i), byte(i), byte(i), 0)
	}
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			v := 128 + 55*math.Sin(fx/23)*math.Cos(fy/17) + 35*math.Sin((fx+2*fy)/61) + float64(r.IntN(41)-20)
			b = append(b, byte(max(0, min(255, v))))
		}
	}
	return fit(b, n)
}

var proseWords = strings.Fields(`der die das und ist nicht ein eine mit sich auf dem den des zu
von ich du er sie wir ihr mir mich dir dich uns noch schon nur auch so wie was wer wo wenn dann
doch aber oder weil als da hier dort immer nie wieder heute morgen Nacht Tag Licht Himmel Erde
Welt Herz Geist Seele Leben Tod Zeit Stunde Jahr Hand Auge Mund Wort Lied Traum Wald Feld Berg
Fluß Meer Wind Feuer Wasser Stein Blume Baum Garten Haus Tür Fenster Straße Stadt Kirche Glocke
gehen kommen sehen hören sprechen sagen fragen wissen denken fühlen lieben leben sterben suchen
finden halten bleiben lassen stehen liegen sitzen schlafen wachen singen klingen fließen brennen
schön groß klein alt jung dunkel hell still laut süß bitter tief hoch weit nah fremd müde froh
über unter neben hinter zwischen während gegen ohne durch für Gretchen Faust Mephisto Wagner
Schüler Geister Engel Herr Frau Mädchen Knabe Bürger Bauer Hexe Küche Keller Straßen Brücke Tür`)

// genProse writes German-looking verse and prose (sent as binary, as
// Autobahn sends its book).
func genProse(n int) []byte {
	r := newRand(3)
	var b strings.Builder
	line := 0
	for b.Len() < n {
		words := 4 + r.IntN(8)
		for i := range words {
			w := proseWords[r.IntN(len(proseWords))]
			if i == 0 {
				r, size := utf8.DecodeRuneInString(w)
				w = strings.ToUpper(string(r)) + w[size:]
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteString([]string{".", ",", "!", "?", ";", ":"}[r.IntN(6)])
		line++
		if line%(3+r.IntN(5)) == 0 {
			b.WriteString("\r\n\r\n")
			if r.IntN(6) == 0 {
				fmt.Fprintf(&b, "  %s:\r\n", strings.ToUpper(proseWords[r.IntN(len(proseWords))]))
			}
		} else {
			b.WriteString("\r\n")
		}
	}
	return fit([]byte(b.String()), n)
}

// genHTML writes a report page: styles, then a long table. Mostly ASCII,
// with a few multi-byte characters.
func genHTML(n int) []byte {
	r := newRand(4)
	classes := []string{"case_ok", "case_ok", "case_ok", "case_non_strict", "case_info", "case_failed", "case_missing"}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n   <head>\n      <meta charset=\"utf-8\" />\n      <style lang=\"css\">\nbody {\n   background-color: #F4F4F4;\n   color: #333;\n   font-family: sans-serif;\n}\n\n.case_ok {\n   background-color: #0a0;\n}\n\n.case_failed {\n   background-color: #900;\n}\n      </style>\n   </head>\n   <body>\n      <table id=\"agent_case_results\">\n")
	row := 0
	for b.Len() < n {
		for _, c := range sampleIDs() {
			if b.Len() >= n {
				break
			}
			row++
			cls := classes[r.IntN(len(classes))]
			fmt.Fprintf(&b, "         <tr class=\"agent_case_result_row\">\n            <td class=\"case\"><a href=\"#case_desc_%s\">Case %s</a></td>\n",
				strings.ReplaceAll(c, ".", "_"), c)
			for a := range 3 {
				fmt.Fprintf(&b, "            <td class=\"%s\"><a href=\"agent%d_case_%s.html\">Pass</a><br/><span class=\"case_duration\">%d ms</span></td><td class=\"close close_hide %s\"><span class=\"close_code\">1000</span></td>\n",
					cls, a, strings.ReplaceAll(c, ".", "_"), 1+r.IntN(50), cls)
			}
			b.WriteString("         </tr>\n")
			if row%64 == 0 {
				b.WriteString("         <!-- Durchsatz gemessen in µs → siehe Übersicht -->\n")
			}
		}
	}
	return fit([]byte(b.String()), n)
}

// genPDF writes a PDF-like file: object dictionaries in text and large
// stream bodies of random octets, as compressed streams look.
func genPDF(n int) []byte {
	r := newRand(5)
	b := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	for obj := 1; len(b) < n; obj++ {
		if obj%3 == 0 {
			b = fmt.Appendf(b, "%d 0 obj\n<</Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths %d 0 R>>\nendobj\n", obj, obj+1)
			b = fmt.Appendf(b, "%d 0 obj\n[", obj+1)
			for range 64 {
				b = fmt.Appendf(b, "%d ", 250+r.IntN(500))
			}
			b = append(b, "]\nendobj\n"...)
			continue
		}
		length := 2000 + r.IntN(12000)
		b = fmt.Appendf(b, "%d 0 obj\n<</Length %d/Filter /FlateDecode>>\nstream\n", obj, length)
		for range length {
			b = append(b, byte(r.Uint32()))
		}
		b = append(b, "\nendstream\nendobj\n"...)
	}
	return fit(b, n)
}
