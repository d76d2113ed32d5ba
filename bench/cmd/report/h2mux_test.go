package main

import (
	"strings"
	"testing"
)

func TestH2MuxParseAndRender(t *testing.T) {
	out := `goos: linux
BenchmarkH2Mux/echo/h1-2         	    4192	    138841 ns/op	  14.75 MB/s	      7202 msgs/s	      1636 p50-us	    243060 p99-us	     395 B/op	       4 allocs/op
BenchmarkH2Mux/echo/h2-2         	    3410	     68199 ns/op	  30.03 MB/s	     14663 msgs/s	      5597 p50-us	     19528 p99-us	     462 B/op	       8 allocs/op
BenchmarkH2Mux/idle/h1-2         	       8	  41048998 ns/op	         1.000 goroutines/ws	     14195 heapB/ws	     14387 rssB/ws	      4014 stackB/ws	 1786983 B/op	    9740 allocs/op
BenchmarkH2Mux/idle/h2-2         	       6	  46279728 ns/op	         4.030 goroutines/ws	     97216 heapB/ws	     13920 rssB/ws	      6608 stackB/ws	10871453 B/op	   14730 allocs/op
--- FAIL: BenchmarkH2Mux/other
PASS
`
	r := &Run{}
	failures := r.parseH2Mux(out, 0)
	if len(failures) != 1 {
		t.Errorf("failures %q, want the one FAIL line", failures)
	}
	got := r.Results.H2Mux
	if len(got) != 4 {
		t.Fatalf("parsed %d benchmarks, want 4: %v", len(got), got)
	}
	if s := got["echo/h2"][0]; s.MsgsPerSec != 14663 || s.P50us != 5597 || s.P99us != 19528 || s.AllocsOp != 8 {
		t.Errorf("echo/h2: %+v", s)
	}
	if s := got["idle/h2"][0]; s.HeapPerWS != 97216 || s.RSSPerWS != 13920 || s.StackPerWS != 6608 || s.GoroPerWS != 4.03 {
		t.Errorf("idle/h2: %+v", s)
	}
	v := &view{res: &r.Results, charts: map[string]string{}}
	v.h2mux()
	md := v.b.String()
	for _, want := range []string{
		"## 100 WebSockets on one HTTP/2 connection",
		"| HTTP/2, 1 connection | 14,663 |",
		"| **HTTP/2 ÷ HTTP/1.1** | 2.04× |",
		"-only h2mux",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks %q:\n%s", want, md)
		}
	}
	empty := &view{res: &Results{}, charts: map[string]string{}}
	empty.h2mux()
	if empty.b.Len() != 0 {
		t.Errorf("a run without the part renders %q", empty.b.String())
	}
}
