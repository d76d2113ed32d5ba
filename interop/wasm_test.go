package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fullduplex/websocket"
)

// TestWasm runs our client compiled to js/wasm (wasmclient/) in headless
// Chromium, where Dial opens the browser's WebSocket object, against our
// server. The program reports each check; the test asserts it and what
// the server saw, one row per check.
//
//	bash interop/run.sh -run Wasm
func TestWasm(t *testing.T) {
	srv := newWasmServer(t)
	version, results, runErr := runWasmClient(t, srv)
	for _, ck := range wasmChecks {
		t.Run(ck.name, func(t *testing.T) {
			comp := ck.compression
			if comp == "" {
				comp = "off"
			}
			r := newRow(t, "Chromium", "our client in js/wasm in the page → our server: "+ck.direction, comp)
			r.setVersion(strings.TrimPrefix(version, "Chromium "))
			if ck.note != "" {
				r.addNote(ck.note)
			}
			if runErr != nil {
				t.Fatal(runErr)
			}
			res, ok := results[ck.name]
			if !ok {
				t.Fatalf("the wasm program reported no result for %q", ck.name)
			}
			if !res.OK {
				t.Errorf("in the browser: %s (data %s)", res.Msg, res.Data)
			}
			var data map[string]any
			if len(res.Data) > 0 {
				if err := json.Unmarshal(res.Data, &data); err != nil {
					t.Fatalf("data of %q: %v", ck.name, err)
				}
			}
			if ck.server != nil {
				ck.server(t, srv, data)
			}
			t.Logf("browser side: %s", res.Data)
		})
	}
}

// wasmCheck is one check of wasmclient and its row.
type wasmCheck struct {
	name        string // as wasmclient reports it
	direction   string // what the row says was checked
	compression string
	note        string
	// server checks what our server saw; data is the check's report.
	server func(t *testing.T, s *wasmServer, data map[string]any)
}

var wasmChecks = []wasmCheck{
	{
		name:      "dial",
		direction: "Dial (synthesized 101 response)",
	},
	echoCheck("text", "0 B"),
	echoCheck("text", "125 B"),
	echoCheck("text", "64 KiB"),
	echoCheck("text", "1 MiB"),
	echoCheck("binary", "0 B"),
	echoCheck("binary", "125 B"),
	echoCheck("binary", "64 KiB"),
	echoCheck("binary", "1 MiB"),
	{
		name:      "writer fragments",
		direction: "Writer in 4 KiB fragments sent as one 1 MiB message, Reader",
		server:    serverGotEcho,
	},
	{
		name:      "wsjson",
		direction: "wsjson round trip",
	},
	{
		name:      "netconn",
		direction: "NetConn round trip",
	},
	{
		name:      "subprotocol",
		direction: "subprotocol negotiation",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			offered, chosen := s.get("proto offered"), s.get("proto chosen")
			if len(offered) == 0 || offered[0] != "bogus.v1, chat.v2" || len(chosen) == 0 || chosen[0] != "chat.v2" {
				t.Errorf("server: offered %q, chose %q; want \"bogus.v1, chat.v2\" and chat.v2", offered, chosen)
			}
		},
	},
	{
		name:      "server close 4001",
		direction: "server closes with 4001 and a reason: *CloseError, CloseStatus",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			if got := s.get("close4001"); len(got) == 0 || got[0] != "<nil>" {
				t.Errorf("server: Close(4001) returned %q, want a completed handshake", got)
			}
		},
	},
	{
		name:      "client close 1000",
		direction: "Close(1000, reason)",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			if got := s.get("clientclose"); len(got) == 0 || got[0] != `1000 "client bye ✓"` {
				t.Errorf("server saw %q, want 1000 \"client bye ✓\"", got)
			}
		},
	},
	{
		name:      "ping",
		direction: "Ping and SendPing return ErrPingInBrowser at once, the connection stays usable",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			if got := s.get("ping pings"); len(got) == 0 || got[0] != "0" {
				t.Errorf("server received pings: %q, want 0", got)
			}
		},
	},
	{
		name:      "read ctx",
		direction: "a Read whose ctx ends returns at once, the connection stays usable",
	},
	{
		name:      "read limit",
		direction: "a message over ReadLimit fails the read with 1009 (ErrMessageTooBig)",
		note:      "a browser cannot send 1009: the server sees 1005",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			if got := s.get("limit"); len(got) == 0 || got[0] != "1005" {
				t.Errorf("server saw close %q, want 1005", got)
			}
		},
	},
	{
		name:      "unread bound",
		direction: "a page that stops reading: the connection fails with 1009 past twice ReadLimit (1 MiB at least) unread",
		note:      "a browser cannot send 1009: the server sees 1005",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			got := s.get("flood")
			if len(got) == 0 {
				t.Fatal("the flood endpoint recorded nothing")
			}
			var code, sent int
			if _, err := fmt.Sscanf(got[0], "%d %d", &code, &sent); err != nil {
				t.Fatalf("flood record %q: %v", got[0], err)
			}
			if code != 1005 || sent < 1<<20 || sent >= wasmFloodMax {
				t.Errorf("server: close %d after %d bytes sent, want 1005 after 1 MiB to %d", code, sent, wasmFloodMax)
			}
		},
	},
	{
		name:        "browser compression",
		direction:   "permessage-deflate negotiated and applied by the browser, invisible to the Conn",
		compression: "permessage-deflate (the browser's)",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			if got := s.get("deflate offer"); len(got) == 0 || !strings.Contains(got[0], "permessage-deflate") {
				t.Errorf("the browser offered %q", got)
			}
			serverGotEcho(t, s, data)
		},
	},
	{
		name:      "dial refused",
		direction: "Dial to a port where nothing listens fails with a readable error",
		server: func(t *testing.T, s *wasmServer, data map[string]any) {
			msg, _ := data["err"].(string)
			want := "websocket: failed to dial " + s.refused + ": the browser could not open the connection (close code 1006)"
			if !strings.HasPrefix(msg, want) {
				t.Errorf("Dial's error %q, want it to start with %q", msg, want)
			}
		},
	},
}

func echoCheck(typ, size string) wasmCheck {
	return wasmCheck{
		name:      "echo " + typ + " " + size,
		direction: typ + " echo, " + size,
		server:    serverGotEcho,
	}
}

// serverGotEcho checks that the echo endpoint received the message the
// program sent, whole, as one message.
func serverGotEcho(t *testing.T, s *wasmServer, data map[string]any) {
	t.Helper()
	sum, _ := data["sha256"].(string)
	size, _ := data["size"].(float64)
	key := fmt.Sprintf("%d %s", int(size), sum)
	for _, got := range s.get("echo") {
		if strings.HasSuffix(got, key) {
			return
		}
	}
	t.Errorf("the server received no message of %d bytes with sha256 %s; it received %q", int(size), sum, s.get("echo"))
}

// wasmFloodMax bounds what the flood endpoint sends.
const wasmFloodMax = 64 << 20

// wasmServer is our server for wasmclient: the page, the program and the
// endpoints of the checks, which record what they see.
type wasmServer struct {
	t       *testing.T
	srv     *httptest.Server
	refused string

	mu      sync.Mutex
	records map[string][]string

	flooded chan string // the flood's outcome, for the control connection
}

func (s *wasmServer) record(key, value string) {
	s.mu.Lock()
	s.records[key] = append(s.records[key], value)
	s.mu.Unlock()
}

func (s *wasmServer) get(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.records[key]...)
}

const wasmPage = `<!doctype html>
<meta charset=utf-8>
<title>wasm client</title>
<script src="/wasm_exec.js"></script>
<script>
(async () => {
  const go = new Go();
  go.argv = ['wasmclient', ...new URLSearchParams(location.search).getAll('arg')];
  const { instance } = await WebAssembly.instantiateStreaming(fetch('/main.wasm'), go.importObject);
  await go.run(instance);
  console.log(JSON.stringify({ event: 'exit' }));
})().catch((err) => console.log(JSON.stringify({ event: 'error', msg: 'page: ' + err })));
</script>
`

func newWasmServer(t *testing.T) *wasmServer {
	s := &wasmServer{t: t, records: map[string][]string{}, flooded: make(chan string, 1)}
	s.refused = fmt.Sprintf("ws://127.0.0.1:%d/nothing", freePort(t))
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(wasmPage))
	})
	accept := func(name string, opts *websocket.AcceptOptions, f func(ctx context.Context, c *websocket.Conn, r *http.Request)) {
		mux.HandleFunc("/ws/"+name, func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, opts)
			if err != nil {
				t.Errorf("%s: Accept: %v", name, err)
				return
			}
			defer c.CloseNow()
			ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
			defer cancel()
			f(ctx, c, r)
		})
	}
	echo := func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			sum := sha256.Sum256(msg)
			s.record("echo", fmt.Sprintf("%v %d %s", typ, len(msg), hex.EncodeToString(sum[:])))
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}
	accept("echo", nil, echo)
	accept("proto", &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}}, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		s.record("proto offered", strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "))
		s.record("proto chosen", c.Subprotocol())
		echo(ctx, c, r)
	})
	accept("close4001", nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		if err := c.Write(ctx, websocket.MessageText, []byte("closing soon")); err != nil {
			s.record("close4001", err.Error())
			return
		}
		s.record("close4001", fmt.Sprint(c.Close(4001, "server says bye ✓")))
	})
	accept("clientclose", nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		_, _, err := c.Read(ctx)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			s.record("clientclose", fmt.Sprintf("%d %q", int(ce.Code), ce.Reason))
		} else {
			s.record("clientclose", fmt.Sprint(err))
		}
	})
	var pings sync.Mutex
	npings := 0
	accept("ping", &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{OnPing: func([]byte) {
		pings.Lock()
		npings++
		pings.Unlock()
	}}}, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		echo(ctx, c, r)
		pings.Lock()
		s.record("ping pings", fmt.Sprint(npings))
		pings.Unlock()
	})
	accept("limit", nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		if err := c.Write(ctx, websocket.MessageBinary, make([]byte, 64<<10+1)); err != nil {
			s.record("limit", err.Error())
			return
		}
		_, _, err := c.Read(ctx)
		s.record("limit", fmt.Sprint(int(websocket.CloseStatus(err))))
	})
	accept("flood", nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		// Send until the page's side fails the connection, reading at
		// the same time to see its close frame.
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					readErr <- err
					return
				}
			}
		}()
		chunk := make([]byte, 16<<10)
		sent := 0
		var err error
	loop:
		for sent < wasmFloodMax {
			select {
			case err = <-readErr:
				break loop
			default:
			}
			if werr := c.Write(ctx, websocket.MessageBinary, chunk); werr != nil {
				err = <-readErr
				break
			}
			sent += len(chunk)
		}
		if err == nil {
			c.CloseNow()
			err = <-readErr
		}
		outcome := fmt.Sprintf("%d %d", int(websocket.CloseStatus(err)), sent)
		s.record("flood", outcome)
		s.flooded <- outcome
	})
	accept("flood-ctl", nil, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		select {
		case outcome := <-s.flooded:
			c.Write(ctx, websocket.MessageText, []byte("flood ended (close code, bytes sent): "+outcome))
		case <-ctx.Done():
			return
		}
		c.Read(ctx) // until the page closes
	})
	accept("deflate", &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{Compression: websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}}}, func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		s.record("deflate offer", r.Header.Get("Sec-WebSocket-Extensions"))
		echo(ctx, c, r)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// wasmResult is a check's line from wasmclient.
type wasmResult struct {
	OK   bool
	Msg  string
	Data json.RawMessage
}

// runWasmClient builds wasmclient, serves it with the Go distribution's
// wasm_exec.js, runs it in Chromium and returns the browser's version and
// the checks' results.
func runWasmClient(t *testing.T, s *wasmServer) (string, map[string]wasmResult, error) {
	node, err := browserPrereqs()
	if err != nil {
		return "", nil, err
	}
	dir := artifactDir(t)
	wasm := filepath.Join(dir, "main.wasm")
	build := exec.Command("go", "build", "-o", wasm, "./wasmclient")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("building wasmclient for js/wasm: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", nil, fmt.Errorf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	execJS := filepath.Join(goroot, "lib", "wasm", "wasm_exec.js")
	if _, err := os.Stat(execJS); err != nil {
		execJS = filepath.Join(goroot, "misc", "wasm", "wasm_exec.js") // before Go 1.24
	}
	glue, err := os.ReadFile(execJS)
	if err != nil {
		return "", nil, fmt.Errorf("wasm_exec.js of the Go distribution: %v", err)
	}
	mux := s.srv.Config.Handler.(*http.ServeMux)
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(glue)
	})
	mux.HandleFunc("/main.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})

	page := s.srv.URL + "/?" + url.Values{"arg": {"ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws", s.refused}}.Encode()
	proc := startPeer(t, procSpec{
		name: "chromium-wasm",
		dir:  ".",
		argv: []string{node, filepath.Join("peers", "wasm.mjs"), "--executable", chromiumPath, page},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ready, _, err := proc.waitEvent(ctx, 0, "the browser", func(ev peerEvent) bool { return ev.Event == "ready" })
	if err != nil {
		return "", nil, err
	}
	if _, _, err := proc.waitEvent(ctx, 0, "the end of the wasm program", func(ev peerEvent) bool { return ev.Event == "done" }); err != nil {
		return ready.Version, nil, err
	}
	results := map[string]wasmResult{}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	for _, ev := range proc.events {
		if ev.Event == "started" && ev.Msg != "js/wasm" {
			return ready.Version, nil, fmt.Errorf("the program ran on %s, not js/wasm", ev.Msg)
		}
		if ev.Event == "check" {
			results[ev.Name] = wasmResult{OK: ev.OK, Msg: ev.Msg, Data: ev.Data}
		}
	}
	return ready.Version, results, nil
}
