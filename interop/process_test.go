package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peerEvent is one JSON line a peer program printed on stdout.
type peerEvent struct {
	Event   string `json:"event"` // listening, open, close, error, done, result, …
	Port    int    `json:"port"`
	Conn    int    `json:"conn"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Version string `json:"version"`
	Msg     string `json:"msg"`
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	ID      int    `json:"id"`

	Data json.RawMessage `json:"data"` // a job's result

	raw json.RawMessage
}

// peerProc is a running peer program.
type peerProc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   string // its stderr

	stopSignal syscall.Signal

	mu      sync.Mutex
	events  []peerEvent
	changed chan struct{} // closed and replaced when events changes
	exited  chan struct{}
	waitErr error
}

// procSpec describes a program to start.
type procSpec struct {
	name string
	dir  string
	argv []string
	// merge sends stderr to stdout, for programs that report readiness
	// on stderr (nginx, tinyproxy); their lines become "output" events.
	merge bool
	// stopSignal, if not zero, is sent to the process group to stop the
	// program; otherwise closing its stdin does.
	stopSignal syscall.Signal
	// extraFiles are inherited by the program as descriptors 3, 4, …
	// (a listening socket, so no other program can take its port).
	extraFiles []*os.File
}

// startPeer starts a program in its own process group, with stdout read as
// JSON lines and stderr saved under the test's artifacts. The program is
// stopped when the test ends (see procSpec.stopSignal), and killed if it
// has not exited a few seconds later.
func startPeer(t *testing.T, spec procSpec) *peerProc {
	t.Helper()
	p := &peerProc{t: t, name: spec.name, stopSignal: spec.stopSignal, changed: make(chan struct{}), exited: make(chan struct{})}
	p.log = filepath.Join(artifactDir(t), strings.ReplaceAll(spec.name, " ", "-")+".log")
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(spec.argv[0], spec.argv[1:]...)
	p.cmd.Dir = spec.dir
	p.cmd.Stdout = pw
	p.cmd.Stderr = logf
	if spec.merge {
		p.cmd.Stderr = pw
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.ExtraFiles = spec.extraFiles
	p.cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*")
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	err = p.cmd.Start()
	pw.Close()
	if err != nil {
		logf.Close()
		pr.Close()
		t.Fatalf("starting %s: %v", spec.name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var ev peerEvent
			if err := json.Unmarshal(line, &ev); err != nil || ev.Event == "" {
				ev = peerEvent{Event: "output", Msg: string(line)}
				if spec.merge {
					fmt.Fprintf(logf, "%s\n", line)
				}
			}
			ev.raw = append(json.RawMessage(nil), line...)
			p.mu.Lock()
			p.events = append(p.events, ev)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		pr.Close()
		err := p.cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog()
		}
	})
	return p
}

// stop closes stdin and waits for the program to exit, killing its
// process group after a grace period.
func (p *peerProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.stdin.Close()
	if p.stopSignal != 0 {
		syscall.Kill(-p.cmd.Process.Pid, p.stopSignal)
	}
	select {
	case <-p.exited:
		return
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// wait waits for the program to exit by itself and reports its failure.
func (p *peerProc) wait(ctx context.Context) error {
	select {
	case <-p.exited:
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit: %w", p.name, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w", p.name, p.waitErr)
	}
	return nil
}

func (p *peerProc) dumpLog() {
	b, err := os.ReadFile(p.log)
	if err != nil || len(b) == 0 {
		return
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	p.t.Logf("%s stderr (%s):\n%s", p.name, p.log, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	var lines []string
	for _, ev := range p.events {
		lines = append(lines, string(ev.raw))
	}
	if n := len(lines); n > 40 {
		lines = lines[n-40:]
	}
	p.t.Logf("%s stdout:\n%s", p.name, strings.Join(lines, "\n"))
}

// waitEvent returns the first event from index from on for which match is
// true, and its index. It fails when the program exits first or when the
// program reports an error.
func (p *peerProc) waitEvent(ctx context.Context, from int, what string, match func(peerEvent) bool) (peerEvent, int, error) {
	for {
		p.mu.Lock()
		events, changed := p.events, p.changed
		p.mu.Unlock()
		for i := from; i < len(events); i++ {
			ev := events[i]
			if ev.Event == "error" {
				return ev, i, fmt.Errorf("%s reported an error: %s", p.name, ev.Msg)
			}
			if match(ev) {
				return ev, i, nil
			}
		}
		from = len(events)
		select {
		case <-changed:
		case <-p.exited:
			// Look once more: the last lines may have come with the exit.
			p.mu.Lock()
			n := len(p.events)
			p.mu.Unlock()
			if n > from {
				continue
			}
			return peerEvent{}, 0, fmt.Errorf("%s exited (%v) while waiting for %s", p.name, p.waitErr, what)
		case <-ctx.Done():
			return peerEvent{}, 0, fmt.Errorf("waiting for %s from %s: %w", what, p.name, ctx.Err())
		}
	}
}

// watchClose is the closeWatcher for peer programs: they print
// {"event":"close","conn":N,"code":…,"reason":…}.
func (p *peerProc) watchClose(ctx context.Context, conn int) (peerClose, error) {
	ev, _, err := p.waitEvent(ctx, 0, "its close event", func(ev peerEvent) bool {
		return ev.Event == "close" && ev.Conn == conn
	})
	if err != nil {
		return peerClose{}, err
	}
	return peerClose{code: ev.Code, reason: ev.Reason}, nil
}

// errorEvents returns the errors the program reported.
func (p *peerProc) errorEvents() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, ev := range p.events {
		if ev.Event == "error" {
			errs = append(errs, fmt.Errorf("%s reported: %s", p.name, ev.Msg))
		}
	}
	return errors.Join(errs...)
}

// need fails the test when a peer program is missing, saying how to get it.
func need(t *testing.T, path, how string) string {
	t.Helper()
	full, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s is missing (%v): %s, or run bash interop/run.sh --install", path, err, how)
	}
	return full
}

// needFile fails the test when a file a peer needs is missing.
func needFile(t *testing.T, path, how string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: %s, or run bash interop/run.sh --install", path, how)
	}
}
