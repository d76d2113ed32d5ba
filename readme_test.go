package websocket_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Go code blocks of README.md and docs/*.md must compile. A block is
// type-checked as
//
//   - a whole file, if it starts with a package clause;
//   - top-level declarations, if it starts with func or type;
//   - otherwise statements, in the body of a function with the parameter
//     ctx context.Context (a block may declare its own ctx).
//
// Imports are added for the packages a block names (snippetPackages;
// extend it when a block needs another). An HTML comment on the line
// before the opening fence changes this:
//
//	<!-- snippet: params srv *http.Server, g *websocket.Group -->
//	    more parameters for a block of statements
//	<!-- snippet: peer -->
//	    code of another library, shown for comparison: parsed, not compiled
//
// Errors are reported at the line of the Markdown file.

// snippetPackages maps the package names blocks may use to import paths.
var snippetPackages = map[string]string{
	"bytes":     "bytes",
	"context":   "context",
	"errors":    "errors",
	"fmt":       "fmt",
	"http":      "net/http",
	"httptest":  "net/http/httptest",
	"io":        "io",
	"json":      "encoding/json",
	"log":       "log",
	"net":       "net",
	"os":        "os",
	"signal":    "os/signal",
	"slog":      "log/slog",
	"strings":   "strings",
	"sync":      "sync",
	"syscall":   "syscall",
	"time":      "time",
	"tls":       "crypto/tls",
	"url":       "net/url",
	"websocket": "github.com/fullduplex/websocket",
	"wsjson":    "github.com/fullduplex/websocket/wsjson",
}

type snippet struct {
	file   string // Markdown file
	line   int    // line of the first line of code
	code   string
	mode   string // "", "peer"
	params string // extra parameters
}

func TestMarkdownSnippets(t *testing.T) {
	if os.Getenv("QEMU_TEST_ARCH") != "" {
		// Under qemu-user (scripts/qemu-test.sh) the test binary cannot
		// start the host's go command; the snippets are checked natively.
		t.Skip("snippets are type-checked by the native run")
	}
	files, _ := filepath.Glob("docs/*.md")
	files = append([]string{"README.md"}, files...)
	var snippets []snippet
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := goBlocks(f, b)
		if err != nil {
			t.Fatal(err)
		}
		snippets = append(snippets, s...)
	}
	if len(snippets) == 0 {
		t.Fatal("no Go code blocks found")
	}
	imp := exportImporter(t)
	for _, s := range snippets {
		t.Run(fmt.Sprintf("%s:%d", s.file, s.line), func(t *testing.T) {
			checkSnippet(t, s, imp)
		})
	}
}

// goBlocks returns the ```go blocks of a Markdown file.
func goBlocks(name string, md []byte) ([]snippet, error) {
	var out []snippet
	var cur *snippet
	var code strings.Builder
	prev := ""
	sc := bufio.NewScanner(bytes.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```go":
			cur = &snippet{file: name, line: n + 1}
			if m, ok := strings.CutPrefix(prev, "<!-- snippet:"); ok {
				m = strings.TrimSpace(strings.TrimSuffix(m, "-->"))
				switch {
				case m == "peer":
					cur.mode = "peer"
				case strings.HasPrefix(m, "params "):
					cur.params = strings.TrimPrefix(m, "params ")
				default:
					return nil, fmt.Errorf("%s:%d: unknown snippet directive %q", name, n-1, m)
				}
			}
			code.Reset()
		case cur != nil && trimmed == "```":
			cur.code = code.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
		}
		if trimmed != "" {
			prev = trimmed
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: code block not closed", name, cur.line-1)
	}
	return out, sc.Err()
}

// checkSnippet wraps s into a file as described above and type-checks it.
func checkSnippet(t *testing.T, s snippet, imp types.Importer) {
	src, offset := wrapSnippet(s)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "snippet.go", src, parser.AllErrors)
	report := func(pos token.Position, msg string) {
		t.Errorf("%s:%d: %s", s.file, s.line+pos.Line-1-offset, msg)
	}
	if err != nil {
		if list, ok := err.(scanner.ErrorList); ok {
			for _, e := range list {
				report(e.Pos, e.Msg)
			}
		} else {
			t.Error(err)
		}
		t.Logf("as compiled:\n%s", src)
		return
	}
	if s.mode == "peer" {
		return
	}
	conf := types.Config{
		Importer: imp,
		Error: func(err error) {
			if te, ok := err.(types.Error); ok {
				report(fset.Position(te.Pos), te.Msg)
				return
			}
			t.Error(err)
		},
	}
	if _, err := conf.Check("snippet", fset, []*ast.File{f}, nil); err != nil {
		t.Logf("as compiled:\n%s", src)
	}
}

// wrapSnippet returns the source to compile for s and the number of lines
// that precede the snippet's first line in it.
func wrapSnippet(s snippet) (string, int) {
	code := s.code
	trimmed := strings.TrimLeft(code, " \t\n")
	if strings.HasPrefix(trimmed, "package ") {
		return code, 0
	}
	statements := !strings.HasPrefix(trimmed, "func ") && !strings.HasPrefix(trimmed, "type ")
	params := "ctx context.Context"
	if s.params != "" {
		params += ", " + s.params
	}
	used := packagesNamed(code)
	if statements {
		for name := range packagesNamed(params) {
			used[name] = true
		}
	}
	var b strings.Builder
	b.WriteString("package snippet\n\n")
	var names []string
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "import %q\n", snippetPackages[name])
	}
	if statements {
		fmt.Fprintf(&b, "\nfunc _(%s) {\n{\n", params)
	}
	offset := strings.Count(b.String(), "\n")
	b.WriteString(code)
	if statements {
		b.WriteString("}\n}\n")
	}
	return b.String(), offset
}

// packagesNamed returns the names of snippetPackages that code uses as
// the left side of a selector, comments and strings aside.
func packagesNamed(code string) map[string]bool {
	used := make(map[string]bool)
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(code))
	var sc scanner.Scanner
	sc.Init(file, []byte(code), nil, 0)
	prevIdent := ""
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.PERIOD && prevIdent != "" {
			if _, ok := snippetPackages[prevIdent]; ok {
				used[prevIdent] = true
			}
		}
		prevIdent = ""
		if tok == token.IDENT {
			prevIdent = lit
		}
	}
	return used
}

// exportImporter imports the packages of snippetPackages from the export
// data the go command produces for them.
func exportImporter(t *testing.T) types.Importer {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the packages the snippets import")
	}
	var paths []string
	for _, p := range snippetPackages {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	cmd := exec.Command(goCmd, append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}, paths...)...)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOPROXY=off")
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, cmd.Stderr)
	}
	exports := make(map[string]string)
	for line := range strings.Lines(string(out)) {
		path, file, _ := strings.Cut(strings.TrimSpace(line), "\t")
		exports[path] = file
	}
	fset := token.NewFileSet()
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s: add it to snippetPackages", path)
		}
		return os.Open(file)
	})
}

// TestGuideExamplesExist: every Example a guide in docs/ names exists, so
// that each mapping stays backed by code that go test runs.
func TestGuideExamplesExist(t *testing.T) {
	var src strings.Builder
	for _, pattern := range []string{"*_test.go", "wsjson/*_test.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Glob gives wsjson\x_test.go on Windows.
			if strings.HasPrefix(filepath.ToSlash(f), "wsjson/") {
				// wsjson's examples are named wsjson.Example… in the guides.
				b = bytes.ReplaceAll(b, []byte("func Example"), []byte("func wsjson.Example"))
			}
			src.Write(b)
		}
	}
	guides, _ := filepath.Glob("docs/*.md")
	if len(guides) == 0 {
		t.Fatal("no guides in docs/")
	}
	named := regexp.MustCompile("`((?:wsjson\\.)?Example[A-Za-z0-9_]*)`")
	for _, g := range guides {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(src.String(), "func "+m[1]+"()") {
				t.Errorf("%s names %s, which no test file defines", g, m[1])
			}
		}
	}
}
