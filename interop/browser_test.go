package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var rootDir = flag.String("root", "..", "the repository root, where examples/echo is built from")

const chromiumPath = "/usr/bin/chromium"

// browser is the Chromium process shared by the subtests of TestChromium,
// driven by peers/browser.mjs.
type browser struct {
	proc    *peerProc
	version string
	nextID  int
}

// job sends a job to the browser and returns its id.
func (b *browser) job(t *testing.T, job map[string]any) int {
	t.Helper()
	b.nextID++
	job["id"] = b.nextID
	line, _ := json.Marshal(job)
	if _, err := b.proc.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("sending a job to the browser: %v", err)
	}
	return b.nextID
}

// result waits for the result of job id and decodes its data into v.
func (b *browser) result(t *testing.T, id int, timeout time.Duration, v any) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ev, _, err := b.proc.waitEvent(ctx, 0, fmt.Sprintf("result of job %d", id), func(ev peerEvent) bool {
		return ev.Event == "result" && ev.ID == id
	})
	if err != nil {
		t.Error(err)
		return false
	}
	if !ev.OK {
		t.Errorf("browser job %d failed: %s", id, ev.Msg)
		return false
	}
	if v != nil {
		if err := json.Unmarshal(ev.Data, v); err != nil {
			t.Errorf("result of browser job %d: %v", id, err)
			return false
		}
	}
	return true
}

// startBrowser starts Chromium for the test and its subtests.
func startBrowser(t *testing.T) (*browser, error) {
	return startBrowserDriver(t, "chromium", "browser.mjs")
}

// startBrowserDriver starts Chromium driven by the playwright-core script
// peers/script, and waits until it is ready.
func startBrowserDriver(t *testing.T, name, script string) (*browser, error) {
	node, err := browserPrereqs()
	if err != nil {
		return nil, err
	}
	proc := startPeer(t, procSpec{
		name: name,
		dir:  ".",
		argv: []string{node, filepath.Join("peers", script), "--executable", chromiumPath},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ev, _, err := proc.waitEvent(ctx, 0, "the browser", func(ev peerEvent) bool { return ev.Event == "ready" })
	if err != nil {
		return nil, err
	}
	return &browser{proc: proc, version: ev.Version}, nil
}

// browserPrereqs checks that Chromium, node and playwright-core are
// installed, and returns node's path.
func browserPrereqs() (node string, err error) {
	if _, err := os.Stat(chromiumPath); err != nil {
		return "", fmt.Errorf("%s is missing: apt-get install chromium, or run bash interop/run.sh --install", chromiumPath)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", errors.New("node is missing: apt-get install nodejs npm, or run bash interop/run.sh --install")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		return "", errors.New("playwright-core is missing: run npm ci in interop/, or bash interop/run.sh --install")
	}
	return node, nil
}

// TestChromium runs headless Chromium against our server: the session
// protocol from a page, and the examples/echo page through its DOM.
func TestChromium(t *testing.T) {
	b, startErr := startBrowser(t)
	run := func(name string, f func(t *testing.T, b *browser, r *row), direction string, comp compression) {
		t.Run(name, func(t *testing.T) {
			r := newRow(t, "Chromium", direction, comp.name)
			if startErr != nil {
				t.Fatal(startErr)
			}
			r.setVersion(strings.TrimPrefix(b.version, "Chromium "))
			f(t, b, r)
			comp.finish(t, r)
		})
	}
	for _, tc := range []struct {
		name  string
		tls   bool
		comp  compression
		reads serverReads
	}{
		{
			name: "session ws",
			comp: compressionOff,
		},
		{
			name: "session wss",
			tls:  true,
			comp: compressionOff,
		},
		{
			name: "session ws deflate",
			comp: compressionModes[1],
		},
		{
			name:  "poller session ws",
			comp:  compressionOff,
			reads: readsPoller,
		},
		{
			name:  "poller session wss",
			tls:   true,
			comp:  compressionOff,
			reads: readsPoller,
		},
		{
			name:  "poller session ws deflate",
			comp:  compressionModes[1],
			reads: readsPoller,
		},
	} {
		scheme := map[bool]string{false: "ws://", true: "wss://"}[tc.tls]
		if tc.reads == readsPoller {
			scheme = "Poller, " + scheme
		}
		run(tc.name, func(t *testing.T, b *browser, r *row) { browserSessions(t, b, r, tc.tls, tc.comp, tc.reads) },
			"browser client → our server ("+scheme+", session protocol)", tc.comp)
	}
	for _, tc := range []struct {
		name string
		tls  bool
		comp compression
	}{
		{
			name: "echo page ws",
			comp: compressionOff,
		},
		{
			name: "echo page wss",
			tls:  true,
			comp: compressionOff,
		},
		{
			name: "echo page ws compress",
			comp: compression{name: "permessage-deflate (echo -compress)", peerArg: "default"},
		},
	} {
		scheme := map[bool]string{false: "ws://", true: "wss://"}[tc.tls]
		run(tc.name, func(t *testing.T, b *browser, r *row) { browserEcho(t, b, tc.tls, tc.comp) },
			"browser → examples/echo page ("+scheme+", DOM and echoClient)", tc.comp)
	}
}

const blankPage = "<!doctype html><meta charset=utf-8><title>interop</title><p>interop session page</p>\n"

// browserSessions runs the main and the short session with Chromium as the
// client, from a page served by our server (so that the Origin check
// passes). Browsers neither fragment nor ping, so the peer's pings are
// left out; our fragments and pings still go to the browser.
//
// Chromium moves WebSocket data at a few MB/s, so the full plan (about 128
// MiB through the browser) runs once per compression setting, over ws://
// and with a goroutine per connection; over wss:// and with the Poller the
// plan stops at 1 MiB.
func browserSessions(t *testing.T, b *browser, r *row, tls bool, comp compression, reads serverReads) {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(blankPage))
	})
	d := newDriverServer(t, comp, tls, mux, reads)
	sessions := []struct {
		name      string
		protocols []string
		spec      sessionSpec
	}{
		{
			name:      "main",
			protocols: offeredProtocols,
			spec:      comp.session(mainSession("interop.v1")),
		},
		{
			name:      "short",
			protocols: nil,
			spec:      shortSession(""),
		},
	}
	switch {
	case reads == readsPoller && tls:
		r.addNote("TLS: the Poller reads our side with a goroutine of its own")
	case reads == readsPoller:
		r.addNote("a Poller's epoll loop reads our side")
	}
	if (tls || reads == readsPoller) && sessions[0].spec.maxSize == 0 {
		sessions[0].spec.maxSize = 1 << 20
		if reads == readsPoller {
			r.addNote("messages up to 1 MiB (16 MiB is checked over ws:// without Poller)")
		} else {
			r.addNote("messages up to 1 MiB (16 MiB is checked over ws://)")
		}
	}
	r.addNote("the browser neither fragments nor pings: those directions are ours only")
	for _, s := range sessions {
		s.spec.peerPings = false
		protocols := s.protocols
		if protocols == nil {
			protocols = []string{}
		}
		id := b.job(t, map[string]any{"job": "interop", "page": d.srv.URL + "/", "ws": d.url(), "protocols": protocols})
		job := d.expect(s.spec, b.proc.watchClose)
		if _, ok := job.wait(t); !ok {
			return
		}
		var res struct {
			Code     int    `json:"code"`
			Reason   string `json:"reason"`
			WasClean bool   `json:"wasClean"`
		}
		if !b.result(t, id, 30*time.Second, &res) {
			return
		}
		if !res.WasClean {
			t.Errorf("%s session: the browser's close event has wasClean false (code %d)", s.name, res.Code)
		}
		if t.Failed() {
			return
		}
	}
}

var (
	echoOnce sync.Once
	echoBin  string
	echoErr  error
)

// buildEcho builds examples/echo once per run.
func buildEcho(t *testing.T) string {
	t.Helper()
	echoOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join(*outDir, "bin"))
		if err != nil {
			echoErr = err
			return
		}
		echoBin = filepath.Join(dir, "echo")
		cmd := exec.Command("go", "build", "-o", echoBin, "./examples/echo")
		cmd.Dir = *rootDir
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = fmt.Errorf("building examples/echo: %v\n%s", err, out)
		}
	})
	if echoErr != nil {
		t.Fatal(echoErr)
	}
	return echoBin
}

// echoChecks is what peers/browser.mjs reports from the echo page.
type echoChecks struct {
	StatusOnLoad         string `json:"statusOnLoad"`
	URLField             string `json:"urlField"`
	TextReply            string `json:"textReply"`
	TextSent             string `json:"textSent"`
	BinaryReply          string `json:"binaryReply"`
	Pushes               int    `json:"pushes"`
	SentDuringPush       int    `json:"sentDuringPush"`
	StatusAfterClose     string `json:"statusAfterClose"`
	StatusAfterReconnect string `json:"statusAfterReconnect"`
	Raw                  struct {
		TextOK      bool   `json:"textOK"`
		TextBytes   int    `json:"textBytes"`
		BinaryOK    bool   `json:"binaryOK"`
		BinaryBytes int    `json:"binaryBytes"`
		Extensions  string `json:"extensions"`
		Close       struct {
			Code     int    `json:"code"`
			Reason   string `json:"reason"`
			WasClean bool   `json:"wasClean"`
		} `json:"close"`
	} `json:"raw"`
}

// browserEcho checks the examples/echo page in Chromium: the page's own
// client through the DOM (text, binary, pushes, close codes shown in
// #status), byte-exact 1 MiB round trips, a close with an application
// code, the server's 1001 on shutdown, and a screenshot.
func browserEcho(t *testing.T, b *browser, tls bool, comp compression) {
	bin := buildEcho(t)
	args := []string{bin, "-addr", "127.0.0.1:0", "-push", "250ms"}
	if tls {
		args = append(args, "-tls")
	}
	if comp.on() && *compressionOn {
		args = append(args, "-compress")
	}
	proc := startPeer(t, procSpec{name: "echo", dir: ".", argv: args, stopSignal: syscall.SIGTERM})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ev, _, err := proc.waitEvent(ctx, 0, "its listening line", func(ev peerEvent) bool {
		return ev.Event == "output" && strings.HasPrefix(ev.Msg, "listening on ")
	})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	pageURL := strings.TrimPrefix(ev.Msg, "listening on ") + "/"
	wantWS := strings.Replace(strings.TrimSuffix(pageURL, "/"), "http", "ws", 1) + "/ws"
	screenshot := filepath.Join(artifactDir(t), "echo-page.png")
	os.Remove(screenshot)

	id := b.job(t, map[string]any{"job": "echo", "url": pageURL, "push": true, "screenshot": screenshot})
	var got echoChecks
	if !b.result(t, id, 60*time.Second, &got) {
		return
	}
	const prefix = "Server: Hello. You said: "
	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{
			name: "#status after load",
			ok:   got.StatusOnLoad == "open",
			got:  got.StatusOnLoad,
		},
		{
			name: "#url",
			ok:   got.URLField == wantWS,
			got:  got.URLField,
		},
		{
			name: "text reply in #log",
			ok:   got.TextReply == prefix+"hello interop ✓" && got.TextSent == "hello interop ✓",
			got:  got.TextReply + " / " + got.TextSent,
		},
		{
			name: "binary reply in #log",
			ok:   got.BinaryReply == fmt.Sprintf("binary %d bytes", len(prefix)+1000),
			got:  got.BinaryReply,
		},
		{
			name: "pushes without sending",
			ok:   got.Pushes >= 2 && got.SentDuringPush == 0,
			got:  fmt.Sprintf("%d pushes, %d sent meanwhile", got.Pushes, got.SentDuringPush),
		},
		{
			name: "1 MiB text round trip",
			ok:   got.Raw.TextOK && got.Raw.TextBytes >= 1<<20,
			got:  fmt.Sprintf("ok %v, %d bytes", got.Raw.TextOK, got.Raw.TextBytes),
		},
		{
			name: "1 MiB binary round trip",
			ok:   got.Raw.BinaryOK && got.Raw.BinaryBytes == len(prefix)+1<<20,
			got:  fmt.Sprintf("ok %v, %d bytes", got.Raw.BinaryOK, got.Raw.BinaryBytes),
		},
		{
			name: "close with 4000 seen by the browser",
			ok:   got.Raw.Close.Code == 4000 && got.Raw.Close.WasClean,
			got:  fmt.Sprintf("%+v", got.Raw.Close),
		},
		{
			name: "#status after the close button",
			ok:   strings.HasPrefix(got.StatusAfterClose, "closed 1000"),
			got:  got.StatusAfterClose,
		},
		{
			name: "#status after reconnecting",
			ok:   got.StatusAfterReconnect == "open",
			got:  got.StatusAfterReconnect,
		},
		{
			name: "extensions negotiated",
			ok:   strings.Contains(got.Raw.Extensions, "permessage-deflate") == (comp.on() && *compressionOn),
			got:  fmt.Sprintf("%q", got.Raw.Extensions),
		},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("echo page: %s: got %v", c.name, c.got)
		}
	}
	t.Logf("close event after the close button: %q; after close(4000, %q): reason %q", got.StatusAfterClose, "custom reason ✓", got.Raw.Close.Reason)
	if png, err := os.ReadFile(screenshot); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("no screenshot at %s (%v)", screenshot, err)
	}

	// The server's shutdown closes the page's connection with 1001.
	proc.stop()
	if err := proc.wait(context.Background()); err != nil {
		t.Errorf("echo server: %v", err)
	}
	id = b.job(t, map[string]any{"job": "echo-shutdown", "page": id})
	var shut struct {
		StatusAfterShutdown string `json:"statusAfterShutdown"`
	}
	if b.result(t, id, 30*time.Second, &shut) && shut.StatusAfterShutdown != "closed 1001 server shutting down" {
		t.Errorf("#status after the server shut down: %q, want %q", shut.StatusAfterShutdown, "closed 1001 server shutting down")
	}
}
