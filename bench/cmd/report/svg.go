package main

import (
	"fmt"
	"html"
	"strings"
)

// bar is one bar of a chart; a bar without a value is drawn as "n/a".
type bar struct {
	label string
	value float64
	ok    bool
}

// group is a set of bars drawn to one scale.
type group struct {
	name string
	bars []bar
}

// libColor gives every library the same color in every chart.
func libColor(label string) string {
	if strings.Contains(label, "root bench") {
		return "#95a5a6" // cross-check rows
	}
	name, _, _ := strings.Cut(label, " ")
	switch name {
	case "ours":
		return "#c0392b"
	case "gorilla":
		return "#2e86c1"
	case "coder":
		return "#28b463"
	case "gobwas":
		return "#8e44ad"
	case "gws":
		return "#e67e22"
	}
	return "#95a5a6"
}

// barChart draws horizontal bars, each group scaled to its own largest
// value so that groups of very different magnitudes stay readable. The
// value is printed at the end of every bar.
func barChart(title, note string, groups []group, format func(float64) string) string {
	const (
		width    = 780
		labelW   = 190
		barMaxW  = 470
		rowH     = 18
		groupGap = 26
		top      = 48
	)
	height := top + 10
	for _, g := range groups {
		height += groupGap + rowH*len(g.bars)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#555555">%s</text>`+"\n", html.EscapeString(note))
	y := top
	for _, g := range groups {
		y += groupGap
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y-8, html.EscapeString(g.name))
		maxV := 0.0
		for _, br := range g.bars {
			if br.ok && br.value > maxV {
				maxV = br.value
			}
		}
		for _, br := range g.bars {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-6, y+13, html.EscapeString(br.label))
			if !br.ok {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#888888">n/a</text>`+"\n", labelW+4, y+13)
				y += rowH
				continue
			}
			w := 0.0
			if maxV > 0 {
				w = br.value / maxV * barMaxW
			}
			if w < 1 {
				w = 1
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+3, w, rowH-5, libColor(br.label))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(labelW)+w+4, y+13, html.EscapeString(format(br.value)))
			y += rowH
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
