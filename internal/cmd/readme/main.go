// Command readme copies the generated result tables into README.md, between
// markers of the form
//
//	<!-- BEGIN path/to/FILE.md -->
//	...
//	<!-- END path/to/FILE.md -->
//
// Each block receives the Markdown tables (each under its heading) of the
// named file, or with FILE.md#Heading only the tables under that heading,
// which the file's own command regenerates:
// autobahn/RESULTS.md (go generate ./autobahn), interop/RESULTS.md
// (bash interop/run.sh) and BENCHMARKS.md (see bench/README.md).
//
// Run from the repository root: go run ./internal/cmd/readme
package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var block = regexp.MustCompile(`(?s)(<!-- BEGIN ([^\n]+?) -->\n).*?(<!-- END ([^\n]+?) -->)`)

func main() {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		fail(err)
	}
	var firstErr error
	if n, m := bytes.Count(readme, []byte("<!-- BEGIN ")), len(block.FindAll(readme, -1)); n != m {
		fail(fmt.Errorf("%d BEGIN markers, %d of them well-formed blocks", n, m))
	}
	out := block.ReplaceAllFunc(readme, func(m []byte) []byte {
		sub := block.FindSubmatch(m)
		if string(sub[2]) != string(sub[4]) {
			firstErr = fmt.Errorf("BEGIN %s closed by END %s", sub[2], sub[4])
			return m
		}
		path, heading, _ := strings.Cut(string(sub[2]), "#")
		src, err := os.ReadFile(path)
		if err != nil {
			firstErr = err
			return m
		}
		var b bytes.Buffer
		b.Write(sub[1])
		b.WriteString(tables(string(src), heading))
		b.Write(sub[3])
		return b.Bytes()
	})
	if firstErr != nil {
		fail(firstErr)
	}
	if err := os.WriteFile("README.md", out, 0o644); err != nil {
		fail(err)
	}
}

// tables returns the table rows of a Markdown document, each table under
// its heading in bold; with only set, just the tables under that heading
// (without it).
func tables(doc, only string) string {
	var b strings.Builder
	var heading string
	inTable := false
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "|"):
			if only != "" && heading != only {
				continue
			}
			if !inTable && only == "" && heading != "" {
				b.WriteString("\n**" + heading + "**\n\n")
			}
			inTable = true
			b.WriteString(line + "\n")
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			inTable = false
		default:
			inTable = false
		}
	}
	return b.String()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "readme:", err)
	os.Exit(1)
}
