package suite

import (
	"fmt"
	"strings"
)

// summaryVerdicts are the columns of a summary, in order.
var summaryVerdicts = []Verdict{OK, NonStrict, Informational, Unimplemented, Failed}

// Overall folds a result's two verdicts into one: the behavior verdict,
// except that a close verdict other than OK or INFORMATIONAL makes an OK or
// NON-STRICT case FAILED.
func (r *Result) Overall() Verdict {
	switch r.Behavior {
	case OK, NonStrict:
		if r.BehaviorClose != OK && r.BehaviorClose != Informational {
			return Failed
		}
		return r.Behavior
	case Informational, Unimplemented:
		return r.Behavior
	}
	return Failed
}

// SummaryRow counts the overall verdicts of one case family.
type SummaryRow struct {
	// Family is the family number ("6").
	Family string
	// Cases is the number of cases run.
	Cases int
	// Counts maps each overall verdict to its number of cases.
	Counts map[Verdict]int
	// NotOK lists the cases whose overall verdict is not OK, with it.
	NotOK []string
}

// Summary counts overall verdicts per family.
type Summary struct {
	// Rows are the families with results, in order.
	Rows []SummaryRow
	// Total sums all rows.
	Total SummaryRow
}

// Summarize counts the overall verdicts of results per family.
func Summarize(results []*Result) Summary {
	var sum Summary
	sum.Total = SummaryRow{Family: "all", Counts: map[Verdict]int{}}
	rows := map[string]*SummaryRow{}
	var order []string
	for _, r := range results {
		fam, _, _ := strings.Cut(r.ID, ".")
		row := rows[fam]
		if row == nil {
			row = &SummaryRow{Family: fam, Counts: map[Verdict]int{}}
			rows[fam] = row
			order = append(order, fam)
		}
		v := r.Overall()
		row.Cases++
		row.Counts[v]++
		sum.Total.Cases++
		sum.Total.Counts[v]++
		if v != OK {
			note := r.ID + " " + string(v)
			row.NotOK = append(row.NotOK, note)
			sum.Total.NotOK = append(sum.Total.NotOK, note)
		}
	}
	sortIDs(order)
	for _, f := range order {
		sum.Rows = append(sum.Rows, *rows[f])
	}
	return sum
}

// Markdown renders the summary as a Markdown table with a line for every
// case that is not OK.
func (sum Summary) Markdown() string {
	var b strings.Builder
	b.WriteString("| Family | Cases |")
	for _, v := range summaryVerdicts {
		fmt.Fprintf(&b, " %s |", v)
	}
	b.WriteString("\n|---|---:|")
	for range summaryVerdicts {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	line := func(name string, row SummaryRow) {
		fmt.Fprintf(&b, "| %s | %d |", name, row.Cases)
		for _, v := range summaryVerdicts {
			fmt.Fprintf(&b, " %d |", row.Counts[v])
		}
		b.WriteString("\n")
	}
	for _, row := range sum.Rows {
		line(row.Family+" "+categories[row.Family], row)
	}
	line("**Total**", sum.Total)
	if len(sum.Total.NotOK) > 0 {
		byVerdict := map[Verdict][]string{}
		for _, note := range sum.Total.NotOK {
			id, v, _ := strings.Cut(note, " ")
			byVerdict[Verdict(v)] = append(byVerdict[Verdict(v)], id)
		}
		var parts []string
		for _, v := range summaryVerdicts {
			if ids := byVerdict[v]; len(ids) > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", v, strings.Join(compactIDs(ids), ", ")))
			}
		}
		b.WriteString("\nNot OK: " + strings.Join(parts, "; ") + ".\n")
	}
	return b.String()
}

// compactIDs replaces the IDs that make up a whole family or subcategory
// with a pattern ("12.*", "6.4.*").
func compactIDs(ids []string) []string {
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
	}
	groups := map[string][]string{} // prefix -> all case IDs under it
	for _, c := range Cases() {
		parts := strings.Split(c.ID, ".")
		for n := 1; n < len(parts); n++ {
			p := strings.Join(parts[:n], ".")
			groups[p] = append(groups[p], c.ID)
		}
	}
	full := func(prefix string) bool {
		for _, id := range groups[prefix] {
			if !have[id] {
				return false
			}
		}
		return len(groups[prefix]) > 1
	}
	var out []string
	done := map[string]bool{}
	for _, id := range ids {
		parts := strings.Split(id, ".")
		item := id
		for n := 1; n < len(parts); n++ {
			if p := strings.Join(parts[:n], "."); full(p) {
				item = p + ".*"
				break
			}
		}
		if !done[item] {
			done[item] = true
			out = append(out, item)
		}
	}
	return out
}
