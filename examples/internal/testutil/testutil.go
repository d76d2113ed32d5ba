// Package testutil holds helpers shared by the tests of the examples.
package testutil

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// CheckLeaks fails t if goroutines started during the test are still
// running shortly after it ends. Call it first, so that its check runs
// after every other cleanup.
func CheckLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Goroutines that were told to stop need a moment to get there.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before the test, %d after:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Lines is an io.Writer that hands out what is written to it line by line,
// so a test can wait for a program's output as it appears.
type Lines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	added   chan struct{} // closed and replaced whenever lines grows
}

// NewLines returns an empty Lines.
func NewLines() *Lines {
	return &Lines{added: make(chan struct{})}
}

// Write records p, splitting it into lines.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	grew := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		grew = true
	}
	if grew {
		close(l.added)
		l.added = make(chan struct{})
	}
	return len(p), nil
}

// Line waits for line number i (from 0) and returns it. It returns false
// if ctx ends first.
func (l *Lines) Line(ctx context.Context, i int) (string, bool) {
	for {
		l.mu.Lock()
		if i < len(l.lines) {
			s := l.lines[i]
			l.mu.Unlock()
			return s, true
		}
		added := l.added
		l.mu.Unlock()
		select {
		case <-added:
		case <-ctx.Done():
			return "", false
		}
	}
}

// String returns everything written so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(l.lines, string(l.partial)), "\n")
}
