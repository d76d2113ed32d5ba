package suite

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

var registry = sync.OnceValues(func() ([]*Case, map[string]int) {
	var cs []*Case
	cs = append(cs, framingCases()...)
	cs = append(cs, pingCases()...)
	cs = append(cs, reservedBitCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases()...)
	cs = append(cs, autoFragmentCases()...)
	cs = append(cs, compressionCases()...)
	index := make(map[string]int, len(cs))
	for i, c := range cs {
		if _, dup := index[c.ID]; dup {
			panic("suite: duplicate case " + c.ID)
		}
		index[c.ID] = i + 1
	}
	return cs, index
})

// Cases returns every case of the suite, in Autobahn's order (517 cases).
// The cases are shared; do not modify them.
func Cases() []*Case {
	cs, _ := registry()
	return cs
}

// Lookup returns the case with the given ID, or nil.
func Lookup(id string) *Case {
	cs, index := registry()
	if i, ok := index[id]; ok {
		return cs[i-1]
	}
	return nil
}

// caseNumber is the 1-based position of a case in Cases.
func caseNumber(id string) int {
	_, index := registry()
	return index[id]
}

// CompareIDs orders case IDs numerically, part by part ("9.10" after "9.9").
func CompareIDs(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool { return CompareIDs(ids[i], ids[j]) < 0 })
}

// casePattern compiles one of Autobahn's case patterns: "*" matches any
// run of characters, and the pattern must match the start of the ID.
func casePattern(p string, anchorEnd bool) (*regexp.Regexp, error) {
	expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*")
	if anchorEnd {
		expr += "$"
	}
	return regexp.Compile(expr)
}

func resolvePatterns(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if !strings.Contains(p, "*") {
			if Lookup(p) == nil {
				return nil, fmt.Errorf("unknown case %q", p)
			}
			out = append(out, p)
			continue
		}
		re, err := casePattern(p, false)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, c := range Cases() {
			if re.MatchString(c.ID) {
				ids = append(ids, c.ID)
			}
		}
		sortIDs(ids)
		out = append(out, ids...)
	}
	return out, nil
}

// ResolveCases returns the IDs matched by the patterns minus those matched
// by the exclude patterns, sorted, as Autobahn resolves a spec's "cases" and
// "exclude-cases" ("*", "6.*", "1.1.1").
func ResolveCases(patterns, exclude []string) ([]string, error) {
	in, err := resolvePatterns(patterns)
	if err != nil {
		return nil, err
	}
	out, err := resolvePatterns(exclude)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, id := range out {
		drop[id] = true
	}
	seen := map[string]bool{}
	var ids []string
	for _, id := range in {
		if !drop[id] && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sortIDs(ids)
	return ids, nil
}

// Category returns the name of a case's family ("6" is "UTF-8 Handling").
func Category(id string) string {
	fam, _, _ := strings.Cut(id, ".")
	if name, ok := categories[fam]; ok {
		return name
	}
	return "Misc"
}

// Subcategory returns the name of a case's subcategory ("6.4"), or "".
func Subcategory(id string) string {
	parts := strings.Split(id, ".")
	if len(parts) < 3 {
		return ""
	}
	return subcategories()[parts[0]+"."+parts[1]]
}

var categories = map[string]string{
	"1":  "Framing",
	"2":  "Pings/Pongs",
	"3":  "Reserved Bits",
	"4":  "Opcodes",
	"5":  "Fragmentation",
	"6":  "UTF-8 Handling",
	"7":  "Close Handling",
	"9":  "Limits/Performance",
	"10": "Misc",
	"12": "WebSocket Compression (different payloads)",
	"13": "WebSocket Compression (different parameters)",
}

var subcategories = sync.OnceValue(func() map[string]string {
	m := map[string]string{
		"1.1":  "Text messages",
		"1.2":  "Binary messages",
		"4.1":  "Non-control opcodes",
		"4.2":  "Control opcodes",
		"6.1":  "Valid UTF-8 with empty fragments",
		"6.2":  "Valid UTF-8, whole, fragmented on and within code points",
		"6.3":  "Invalid UTF-8, differently fragmented",
		"6.4":  "Fail fast on invalid UTF-8",
		"7.1":  "Basic close behaviour (fuzzer initiated)",
		"7.3":  "Close frame structure: payload length (fuzzer initiated)",
		"7.5":  "Close frame structure: payload value (fuzzer initiated)",
		"7.7":  "Close frame structure: valid close codes (fuzzer initiated)",
		"7.9":  "Close frame structure: invalid close codes (fuzzer initiated)",
		"7.13": "Informational close information (fuzzer initiated)",
		"9.1":  "Text message (increasing size)",
		"9.2":  "Binary message (increasing size)",
		"9.3":  "Fragmented text message (fixed size, increasing fragment size)",
		"9.4":  "Fragmented binary message (fixed size, increasing fragment size)",
		"9.5":  "Text message (fixed size, increasing chop size)",
		"9.6":  "Binary message (fixed size, increasing chop size)",
		"9.7":  "Text message round trip time (fixed number, increasing size)",
		"9.8":  "Binary message round trip time (fixed number, increasing size)",
		"10.1": "Auto-fragmentation",
	}
	for k, v := range utf8Subcategories() {
		m[k] = v
	}
	for k, v := range compressionSubcategories() {
		m[k] = v
	}
	return m
})
