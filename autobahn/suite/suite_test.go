package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// quick shrinks the large cases so that the whole suite runs in seconds,
// and gives the peers time to answer on a busy machine.
var quick = Options{Scale: 256, TimeScale: 4}

// quickDeflate sends two messages per compression case: enough to use the
// compression context of the first in the second.
var quickDeflate = Options{Scale: 500, TimeScale: 4}

// modes are the runs against the reference peers: every case without
// compression, the compression cases with it.
var modes = []struct {
	name     string
	compress bool
	cases    []string
	opts     Options
}{
	{
		name:  "plain",
		cases: []string{"*"},
		opts:  quick,
	},
	{
		name:     "deflate",
		compress: true,
		cases:    []string{"12.*", "13.*"},
		opts:     quickDeflate,
	},
}

var testParallel = 16

// informationalCases are the cases Autobahn itself reports as
// INFORMATIONAL.
var informationalCases = map[string]bool{"7.1.6": true, "7.13.1": true, "7.13.2": true}

func TestCaseList(t *testing.T) {
	cs := Cases()
	if len(cs) != 517 {
		t.Fatalf("got %d cases, want 517", len(cs))
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
		if c.Description == "" || c.Expectation == "" {
			t.Errorf("case %s lacks a description or expectation", c.ID)
		}
	}
	if !slices.IsSortedFunc(ids, CompareIDs) {
		t.Errorf("cases are not in numeric order")
	}
	families := map[string]int{}
	for _, id := range ids {
		fam, _, _ := strings.Cut(id, ".")
		families[fam]++
	}
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126}
	for fam, n := range want {
		if families[fam] != n {
			t.Errorf("family %s has %d cases, want %d", fam, families[fam], n)
		}
	}
	for _, id := range []string{"6.5.1", "6.6.11", "6.12.8", "6.22.34", "6.23.7", "7.7.13", "7.9.9", "9.8.6", "12.5.18", "13.7.18"} {
		if Lookup(id) == nil {
			t.Errorf("case %s is missing", id)
		}
	}
	if Lookup("6.22.35") != nil || Lookup("9.9.1") != nil {
		t.Errorf("cases that Autobahn does not run are defined")
	}
}

func TestResolveCases(t *testing.T) {
	tests := []struct {
		name    string
		cases   []string
		exclude []string
		want    int
		first   string
		wantErr bool
	}{
		{
			name:  "all",
			cases: []string{"*"},
			want:  517,
			first: "1.1.1",
		},
		{
			name:  "family",
			cases: []string{"6.*"},
			want:  145,
			first: "6.1.1",
		},
		{
			name:  "family 1 is not 12 or 13",
			cases: []string{"1.*"},
			want:  16,
			first: "1.1.1",
		},
		{
			name:    "exclusions",
			cases:   []string{"*"},
			exclude: []string{"9.*", "12.*", "13.*"},
			want:    517 - 54 - 90 - 126,
			first:   "1.1.1",
		},
		{
			name:  "exact and duplicates",
			cases: []string{"2.1", "1.1.1", "2.1"},
			want:  2,
			first: "1.1.1",
		},
		{
			name:    "unknown",
			cases:   []string{"99.1"},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := ResolveCases(tc.cases, tc.exclude)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %d cases, want an error", len(ids))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != tc.want || ids[0] != tc.first {
				t.Errorf("got %d cases starting at %s, want %d starting at %s", len(ids), ids[0], tc.want, tc.first)
			}
		})
	}
}

func TestExcluder(t *testing.T) {
	spec := &Spec{ExcludeAgentCases: map[string][]string{"Gorilla*": {"6.4.*", "7.1.6"}}}
	ex, err := spec.Excluder()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		agent string
		id    string
		want  bool
	}{
		{
			name:  "matching agent and case",
			agent: "Gorilla/1.5",
			id:    "6.4.2",
			want:  true,
		},
		{
			name:  "exact case",
			agent: "Gorilla",
			id:    "7.1.6",
			want:  true,
		},
		{
			name:  "case pattern anchored at the end",
			agent: "Gorilla",
			id:    "7.1.60",
			want:  false,
		},
		{
			name:  "other agent",
			agent: "Other",
			id:    "6.4.2",
			want:  false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ex(tc.agent, tc.id); got != tc.want {
				t.Errorf("excluded(%q, %q) = %v, want %v", tc.agent, tc.id, got, tc.want)
			}
		})
	}
}

func TestUTF8Validator(t *testing.T) {
	for _, g := range utf8Groups() {
		for i, seq := range g.seqs {
			var v utf8Validator
			ok := v.write(seq) && v.complete()
			if ok != g.valid[i] {
				t.Errorf("%s #%d (%x): valid = %v, want %v", g.name, i+1, seq, ok, g.valid[i])
			}
			// Byte by byte gives the same answer.
			v.reset()
			ok = true
			for _, b := range seq {
				ok = ok && v.write([]byte{b})
			}
			if ok && v.complete() != g.valid[i] {
				t.Errorf("%s #%d (%x): incremental validation differs", g.name, i+1, seq)
			}
		}
	}
	// Fail fast: the out-of-range code point of 6.4.1 fails on its second
	// octet.
	var v utf8Validator
	if !v.write(kosme) || !v.write([]byte{0xf4}) || v.write([]byte{0x90}) {
		t.Errorf("validator does not fail on the first invalid octet")
	}
}

func TestSummaryMarkdown(t *testing.T) {
	var rs []*Result
	for _, c := range Cases() {
		r := &Result{ID: c.ID, Behavior: OK, BehaviorClose: OK}
		fam, _, _ := strings.Cut(c.ID, ".")
		switch {
		case fam == "12" || fam == "13":
			r.Behavior = Unimplemented
		case informationalCases[c.ID]:
			r.Behavior, r.BehaviorClose = Informational, Informational
		case strings.HasPrefix(c.ID, "6.4."):
			r.Behavior = NonStrict
		case c.ID == "7.9.3":
			r.BehaviorClose = WrongCode
		}
		rs = append(rs, r)
	}
	sum := Summarize(rs)
	if sum.Total.Cases != 517 || sum.Total.Counts[OK] != 517-216-3-4-1 || sum.Total.Counts[Failed] != 1 {
		t.Errorf("totals %+v", sum.Total.Counts)
	}
	md := sum.Markdown()
	want := "Not OK: NON-STRICT 6.4.*; INFORMATIONAL 7.1.6, 7.13.*; UNIMPLEMENTED 12.*, 13.*; FAILED 7.9.3.\n"
	if !strings.HasSuffix(md, want) {
		t.Errorf("summary ends with\n%s\nwant\n%s", md[strings.LastIndex(md, "\n\n")+2:], want)
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		serverNCT  bool
		clientNCT  bool
		serverBits int
		clientBits int
	}{
		{
			name: "context takeover",
		},
		{
			name:      "no context takeover",
			serverNCT: true,
			clientNCT: true,
		},
		{
			name:       "small windows",
			serverBits: 9,
			clientBits: 9,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newDeflate(true, tc.serverNCT, tc.clientNCT, tc.serverBits, tc.clientBits)
			cli := newDeflate(false, tc.serverNCT, tc.clientNCT, tc.serverBits, tc.clientBits)
			for i := range 20 {
				msg := corpusJSON.slice(i*1000, i*1000+5000)
				got, err := cli.decompress(srv.compress(msg))
				if err != nil || string(got) != string(msg) {
					t.Fatalf("server to client message %d: err %v, equal %v", i, err, string(got) == string(msg))
				}
				got, err = srv.decompress(cli.compress(msg))
				if err != nil || string(got) != string(msg) {
					t.Fatalf("client to server message %d: err %v, equal %v", i, err, string(got) == string(msg))
				}
			}
		})
	}
}

func TestCorpora(t *testing.T) {
	for _, c := range compressionCorpora {
		c.load()
		if len(c.data) != c.size {
			t.Errorf("%s: %d octets, want %d", c.name, len(c.data), c.size)
		}
		if c == corpusHTML && len(c.runes) == len(c.data) {
			t.Errorf("%s: no multi-byte characters", c.name)
		}
		if c == corpusProse && (!utf8.Valid(c.data) || bytes.Count(c.data, []byte(" ")) > len(c.data)/4) {
			t.Errorf("%s: not text-like", c.name)
		}
	}
}

// runAll runs ids as the fuzzing client against url.
func runAll(t *testing.T, url string, ids []string, opts Options) map[string]*Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rs, err := RunCases(ctx, ClientCase{URL: url, Agent: "peer"}, ids, opts, testParallel)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Result{}
	for _, r := range rs {
		out[r.ID] = r
	}
	if len(out) != len(ids) {
		t.Fatalf("got %d results for %d cases", len(out), len(ids))
	}
	return out
}

// checkConforming fails for every result a conforming peer would not get.
func checkConforming(t *testing.T, rs map[string]*Result, compress bool) {
	t.Helper()
	for id, r := range rs {
		fam, _, _ := strings.Cut(id, ".")
		switch {
		case (fam == "12" || fam == "13") && !compress:
			if r.Behavior != Unimplemented || r.BehaviorClose != OK {
				t.Errorf("case %s: %s/%s, want UNIMPLEMENTED/OK without compression: %s %s", id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose)
			}
		case informationalCases[id]:
			if r.Behavior != Informational || r.BehaviorClose != Informational {
				t.Errorf("case %s: %s/%s, want INFORMATIONAL", id, r.Behavior, r.BehaviorClose)
			}
		case r.Behavior != OK || r.BehaviorClose != OK:
			t.Errorf("case %s: %s/%s: %s; %s", id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose)
		}
	}
}

func TestFuzzingClientAgainstReferenceServer(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ids, _ := ResolveCases(m.cases, nil)
			url := servePeers(t, peerConfig{compress: m.compress})
			checkConforming(t, runAll(t, url, ids, m.opts), m.compress)
		})
	}
}

func TestFuzzingClientFindsDefects(t *testing.T) {
	ids, _ := ResolveCases([]string{"6.*"}, nil)
	t.Run("no UTF-8 validation", func(t *testing.T) {
		rs := runAll(t, servePeers(t, peerConfig{noUTF8: true}), ids, quick)
		failed := 0
		for id, r := range rs {
			c := Lookup(id)
			invalid := strings.Contains(c.Description, "invalid") || strings.HasPrefix(id, "6.3.") || strings.HasPrefix(id, "6.4.")
			switch {
			case invalid && r.Behavior != Failed:
				t.Errorf("case %s: %s, want FAILED for a peer that does not check UTF-8", id, r.Behavior)
			case !invalid && r.Behavior != OK:
				t.Errorf("case %s: %s, want OK for valid UTF-8", id, r.Behavior)
			}
			if r.Behavior == Failed {
				failed++
			}
		}
		if failed == 0 {
			t.Errorf("no case failed")
		}
	})
	t.Run("late UTF-8 validation", func(t *testing.T) {
		rs := runAll(t, servePeers(t, peerConfig{lateUTF8: true}), ids, quick)
		for id, r := range rs {
			want := OK
			if strings.HasPrefix(id, "6.4.") {
				want = NonStrict
			}
			if r.Behavior != want {
				t.Errorf("case %s: %s, want %s for a peer that checks UTF-8 only at the end of a message", id, r.Behavior, want)
			}
		}
	})
	t.Run("invalid close codes echoed", func(t *testing.T) {
		ids, _ := ResolveCases([]string{"7.9.*"}, nil)
		rs := runAll(t, servePeers(t, peerConfig{anyCloseCode: true}), ids, quick)
		for id, r := range rs {
			if r.Behavior != Failed || r.BehaviorClose != WrongCode {
				t.Errorf("case %s: %s/%s, want FAILED/WRONG CODE for a peer that echoes an invalid close code", id, r.Behavior, r.BehaviorClose)
			}
		}
	})
	t.Run("no server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, err := RunCase(context.Background(), ClientCase{URL: "ws://" + addr}, "1.1.1", quick); err == nil {
			t.Errorf("got no error for a refused connection")
		}
	})
}

// serveFuzzer runs a fuzzing server on a loopback listener until the test
// ends and returns its base URL.
func serveFuzzer(t *testing.T, sv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return "ws://" + ln.Addr().String()
}

func TestFuzzingServerAgainstReferenceClient(t *testing.T) {
	for _, m := range modes {
		compress := m.compress
		t.Run(m.name, func(t *testing.T) {
			ids, _ := ResolveCases(m.cases, nil)
			sv := &Server{Cases: ids, Options: m.opts}
			base := serveFuzzer(t, sv)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// Sixteen clients share the cases, so that the waits of some
			// cases overlap.
			const clients = 16
			var wg sync.WaitGroup
			errs := make([]error, clients)
			for k := range clients {
				var nums []int
				for n := k + 1; n <= len(ids); n += clients {
					nums = append(nums, n)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[k] = runPeerClient(ctx, base, "peer", peerConfig{compress: compress}, nums)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := sv.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			rs := map[string]*Result{}
			for _, r := range sv.Report().Results("peer") {
				rs[r.ID] = r
				if !r.IsServer {
					t.Fatalf("case %s: result not from the server role", r.ID)
				}
			}
			for _, id := range ids {
				if rs[id] == nil {
					t.Errorf("case %s: no result", id)
				}
			}
			checkConforming(t, rs, compress)
		})
	}
}

func TestFuzzingServerFindsDefects(t *testing.T) {
	ids, _ := ResolveCases([]string{"6.3.*", "6.4.*", "6.5.*", "6.8.*"}, nil)
	sv := &Server{Cases: ids, Options: quick}
	base := serveFuzzer(t, sv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runPeerClient(ctx, base, "careless", peerConfig{noUTF8: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		r := sv.Report().Get("careless", id)
		want := Failed
		if strings.HasPrefix(id, "6.5.") {
			want = OK // valid UTF-8
		}
		if r == nil || r.Behavior != want {
			t.Errorf("case %s: %v, want %s for a client that does not check UTF-8", id, r, want)
		}
	}
}

func TestFuzzingServerProtocol(t *testing.T) {
	ids, _ := ResolveCases([]string{"1.1.*", "6.4.1", "13.7.1"}, nil)
	dir := t.TempDir()
	sv := &Server{Cases: ids, Options: quick, OutDir: dir}
	base := serveFuzzer(t, sv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runPeerClient(ctx, base, "Reference Peer/1.0", peerConfig{compress: true}, nil); err != nil {
		t.Fatal(err)
	}
	var index map[string]map[string]struct {
		Behavior   Verdict `json:"behavior"`
		ReportFile string  `json:"reportfile"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	got := index["Reference Peer/1.0"]
	if len(got) != len(ids) {
		t.Fatalf("index.json has %d cases, want %d", len(got), len(ids))
	}
	for id, e := range got {
		if e.Behavior != OK {
			t.Errorf("case %s: %s", id, e.Behavior)
		}
		if want := ReportFile("Reference Peer/1.0", id, "json"); e.ReportFile != want {
			t.Errorf("case %s: report file %s, want %s", id, e.ReportFile, want)
		}
		var r Result
		rb, err := os.ReadFile(filepath.Join(dir, e.ReportFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rb, &r); err != nil || r.ID != id {
			t.Errorf("case %s: bad report file: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Error(err)
	}
	if got := ReportFile("Reference Peer/1.0", "1.1.1", "json"); got != "reference_peer_1_0_case_1_1_1.json" {
		t.Errorf("report file name %s", got)
	}
}
