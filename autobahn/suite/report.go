package suite

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Report collects results by agent and case and writes them in
// Autobahn's report layout.
type Report struct {
	mu      sync.Mutex
	byAgent map[string]map[string]*Result
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{byAgent: map[string]map[string]*Result{}}
}

// Add records a result, replacing an earlier one for the same agent and
// case.
func (r *Report) Add(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.byAgent[res.Agent]
	if m == nil {
		m = map[string]*Result{}
		r.byAgent[res.Agent] = m
	}
	m[res.ID] = res
}

// Get returns the result for an agent and case, or nil.
func (r *Report) Get(agent, id string) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byAgent[agent][id]
}

// Agents returns the agents with results, sorted.
func (r *Report) Agents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range r.byAgent {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Results returns an agent's results in case order.
func (r *Report) Results(agent string) []*Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Result
	for _, res := range r.byAgent[agent] {
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return CompareIDs(out[i].ID, out[j].ID) < 0 })
	return out
}

// cleanForFilename keeps lower-case letters and digits and turns every
// other character into an underscore, trimming them at both ends.
func cleanForFilename(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(strings.TrimSpace(s)) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte(' ')
		}
	}
	return strings.ReplaceAll(strings.TrimSpace(b.String()), " ", "_")
}

// ReportFile returns the base name of the per-case report of an agent and
// case ("myagent_case_1_1_1" plus ext).
func ReportFile(agent, id, ext string) string {
	return cleanForFilename(agent) + "_case_" + strings.ReplaceAll(id, ".", "_") + "." + ext
}

// indexEntry is one case in index.json.
type indexEntry struct {
	Behavior        Verdict `json:"behavior"`
	BehaviorClose   Verdict `json:"behaviorClose"`
	RemoteCloseCode *int    `json:"remoteCloseCode"`
	Duration        int64   `json:"duration"`
	ReportFile      string  `json:"reportfile"`
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "   ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Write writes index.json, index.html and one JSON file per agent and case
// into dir, creating it if needed.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	index := map[string]map[string]indexEntry{}
	for _, agent := range r.Agents() {
		index[agent] = map[string]indexEntry{}
		for _, res := range r.Results(agent) {
			file := ReportFile(agent, res.ID, "json")
			index[agent][res.ID] = indexEntry{
				Behavior:        res.Behavior,
				BehaviorClose:   res.BehaviorClose,
				RemoteCloseCode: res.RemoteCloseCode,
				Duration:        res.Duration,
				ReportFile:      file,
			}
			if err := writeJSON(filepath.Join(dir, file), res); err != nil {
				return err
			}
		}
	}
	if err := writeJSON(filepath.Join(dir, "index.json"), index); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.html"), []byte(r.HTML()), 0o644)
}

const reportCSS = `
body { background: #f4f4f4; color: #333; font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
td { padding: 2px 8px; border: 1px solid #ddd; font-size: 0.9em; }
td.category { background: #333; color: #fff; font-weight: bold; padding: 6px 8px; }
td.subcategory { background: #ccc; font-weight: bold; }
td.agent { background: #333; color: #fff; text-align: center; }
td.ok { background: #0a0; color: #fff; }
td.nonstrict { background: #99ff00; }
td.info { background: #6af; color: #fff; }
td.unimpl { background: #999; color: #fff; }
td.failed { background: #c00; color: #fff; }
td.missing { background: #fff; color: #999; }
td a { color: inherit; }
span.duration { font-size: 0.8em; }
`

func verdictClass(v Verdict) (class, text string) {
	switch v {
	case OK:
		return "ok", "Pass"
	case NonStrict:
		return "nonstrict", "Non-Strict"
	case Informational:
		return "info", "Info"
	case Unimplemented:
		return "unimpl", "Unimplemented"
	}
	return "failed", "Fail"
}

func closeClass(v Verdict) string {
	switch v {
	case OK:
		return "ok"
	case Informational:
		return "info"
	case WrongCode, FailedByClient:
		return "nonstrict"
	}
	return "failed"
}

// HTML returns the summary page: one row per case, two columns per agent
// (the verdict, linked to the case's JSON report, and the close code).
func (r *Report) HTML() string {
	agents := r.Agents()
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\" />\n<title>WebSocket conformance report</title>\n<style>")
	b.WriteString(reportCSS)
	b.WriteString("</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>WebSocket conformance report</h1>\n<p>Generated %s (UTC) by %s, a Go reproduction of the Autobahn|Testsuite cases.</p>\n",
		utcStamp(time.Now()), html.EscapeString(userAgent))
	b.WriteString("<h2>Summary</h2>\n")
	b.WriteString(summaryHTML(r))
	b.WriteString("<h2>Cases</h2>\n<table>\n")
	lastCat, lastSub := "", ""
	for _, c := range Cases() {
		fam, _, _ := strings.Cut(c.ID, ".")
		parts := strings.Split(c.ID, ".")
		sub := ""
		if len(parts) == 3 {
			sub = parts[0] + "." + parts[1]
		}
		if fam != lastCat || sub != lastSub {
			b.WriteString("<tr>")
			fmt.Fprintf(&b, "<td class=\"category\">%s %s</td>", fam, html.EscapeString(Category(c.ID)))
			for _, a := range agents {
				fmt.Fprintf(&b, "<td class=\"agent\" colspan=\"2\">%s</td>", html.EscapeString(a))
			}
			b.WriteString("</tr>\n")
			if sub != "" {
				fmt.Fprintf(&b, "<tr><td class=\"subcategory\" colspan=\"%d\">%s %s</td></tr>\n", 1+2*len(agents), sub, html.EscapeString(Subcategory(c.ID)))
			}
			lastCat, lastSub = fam, sub
		}
		fmt.Fprintf(&b, "<tr><td title=\"%s\">Case %s</td>", html.EscapeString(c.Description), c.ID)
		for _, a := range agents {
			res := r.Get(a, c.ID)
			if res == nil {
				b.WriteString("<td class=\"missing\" colspan=\"2\">Missing</td>")
				continue
			}
			cls, text := verdictClass(res.Behavior)
			if res.Behavior == Unimplemented {
				fmt.Fprintf(&b, "<td class=\"%s\" colspan=\"2\"><a href=\"%s\">%s</a></td>", cls, ReportFile(a, c.ID, "json"), text)
				continue
			}
			detail := ""
			if res.ReportTime {
				detail = fmt.Sprintf("<br/><span class=\"duration\">%d ms</span>", res.Duration)
			}
			code := "-"
			if res.RemoteCloseCode != nil {
				code = fmt.Sprint(*res.RemoteCloseCode)
			}
			if res.BehaviorClose != OK && res.BehaviorClose != Informational {
				code += " " + string(res.BehaviorClose)
			}
			fmt.Fprintf(&b, "<td class=\"%s\"><a href=\"%s\" title=\"%s\">%s</a>%s</td><td class=\"%s\">%s</td>",
				cls, ReportFile(a, c.ID, "json"), html.EscapeString(res.Result), text, detail, closeClass(res.BehaviorClose), html.EscapeString(code))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n</body>\n</html>\n")
	return b.String()
}

// summaryHTML renders the per-family summary of every agent.
func summaryHTML(r *Report) string {
	var b strings.Builder
	for _, a := range r.Agents() {
		sum := Summarize(r.Results(a))
		fmt.Fprintf(&b, "<h3>%s</h3>\n<table>\n<tr><td class=\"subcategory\">Family</td>", html.EscapeString(a))
		for _, v := range summaryVerdicts {
			fmt.Fprintf(&b, "<td class=\"subcategory\">%s</td>", v)
		}
		b.WriteString("</tr>\n")
		for _, row := range sum.Rows {
			fmt.Fprintf(&b, "<tr><td>%s %s</td>", row.Family, html.EscapeString(categories[row.Family]))
			for _, v := range summaryVerdicts {
				fmt.Fprintf(&b, "<td>%d</td>", row.Counts[v])
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	return b.String()
}
