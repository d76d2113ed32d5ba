package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Server is the fuzzing server: it runs cases against WebSocket clients
// that follow Autobahn's testee-client protocol.
//
//   - /getCaseCount: the server sends the number of cases as a text
//     message, then closes.
//   - /runCase?case=N&agent=NAME: the server runs case N (1-based, in the
//     order of Cases) against the client, which echoes every message.
//   - /updateReports?agent=NAME: the server writes its reports to OutDir,
//     then closes.
//   - /getCaseInfo?case=N: the server sends the case's ID and description
//     as JSON, then closes.
//   - /getCaseStatus?case=N&agent=NAME: the server sends the case's
//     behavior as JSON once the case has run, then closes.
type Server struct {
	// Cases are the IDs of the cases to run, in order.
	Cases []string
	// Options tune the cases.
	Options Options
	// OutDir is where /updateReports writes the reports; empty writes none.
	OutDir string
	// Exclude, if set, reports cases to skip for an agent.
	Exclude func(agent, id string) bool
	// OnResult, if set, is called with every result.
	OnResult func(*Result)
	// Logf, if set, receives progress messages.
	Logf func(format string, args ...any)

	mu        sync.Mutex
	report    *Report
	listeners map[string][]func(*Result)
	running   int           // cases in progress
	idle      chan struct{} // closed when running drops to zero
}

func (sv *Server) caseStarted() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.running == 0 || sv.idle == nil {
		sv.idle = make(chan struct{})
	}
	sv.running++
}

func (sv *Server) caseEnded() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.running--
	if sv.running == 0 {
		close(sv.idle)
	}
}

// WaitIdle waits until no case is in progress, so that the results of
// every case a client has finished are in the report.
func (sv *Server) WaitIdle(ctx context.Context) error {
	sv.mu.Lock()
	if sv.running == 0 {
		sv.mu.Unlock()
		return nil
	}
	idle := sv.idle
	sv.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sv *Server) logf(format string, args ...any) {
	if sv.Logf != nil {
		sv.Logf(format, args...)
	}
}

// Report returns the results collected so far.
func (sv *Server) Report() *Report {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.reportLocked()
}

func (sv *Server) reportLocked() *Report {
	if sv.report == nil {
		sv.report = NewReport()
	}
	return sv.report
}

func (sv *Server) addResult(r *Result) {
	rep := sv.Report()
	rep.Add(r)
	sv.mu.Lock()
	key := r.Agent + "\x00" + r.ID
	ls := sv.listeners[key]
	delete(sv.listeners, key)
	sv.mu.Unlock()
	for _, l := range ls {
		l(r)
	}
	if sv.OnResult != nil {
		sv.OnResult(r)
	}
}

// Serve accepts connections on ln until ctx ends, then closes ln and waits
// for the connections in progress to end.
func (sv *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sv.serveConn(ctx, conn)
		}()
	}
}

func (sv *Server) serveConn(ctx context.Context, conn net.Conn) {
	s := newSession(conn, true, sv.Options)
	s.srv = sv
	s.exclude = sv.Exclude
	s.onResult = sv.addResult
	// The case is only known after the request; its deadline is armed in
	// onConnect.
	s.run(ctx, s.connectionMade)
	if s.c != nil {
		sv.caseEnded()
	}
}

// onConnect decides what a fuzzing server connection does, from the
// request path and query. A non-zero status refuses the handshake.
func (s *session) onConnect(r serverRequest) (int, string) {
	sv := s.srv
	if sv == nil {
		return http.StatusNotFound, "no fuzzing server"
	}
	if a := r.query["agent"]; len(a) > 1 {
		return http.StatusBadRequest, "multiple agents specified"
	} else if len(a) == 1 {
		s.agent = a[0]
	}
	num := 0
	if t := r.query["casetuple"]; len(t) > 0 {
		for i, id := range sv.Cases {
			if id == t[0] {
				num = i + 1
			}
		}
		if num == 0 {
			return http.StatusBadRequest, fmt.Sprintf("invalid test case tuple %s", t[0])
		}
	}
	if c := r.query["case"]; len(c) > 1 {
		return http.StatusBadRequest, "multiple test cases specified"
	} else if len(c) == 1 {
		n, err := strconv.Atoi(c[0])
		if err != nil {
			return http.StatusBadRequest, fmt.Sprintf("invalid test case ID %s", c[0])
		}
		num = n
	}
	var c *Case
	if num != 0 {
		if num < 1 || num > len(sv.Cases) {
			return http.StatusBadRequest, fmt.Sprintf("case %d not found", num)
		}
		c = Lookup(sv.Cases[num-1])
	}
	s.path = r.path
	switch r.path {
	case "/runCase":
		if c == nil {
			return http.StatusBadRequest, "need case to run"
		}
		if s.agent == "" {
			return http.StatusBadRequest, "need agent to run case"
		}
		s.setCase(c, num)
		sv.caseStarted()
		s.armCaseDeadline(caseDeadline(c))
		sv.logf("Running test case ID %s for agent %s", c.ID, s.agent)
	case "/updateReports":
		if s.agent == "" {
			return http.StatusBadRequest, "need agent to update reports for"
		}
		s.onControlOpen = func() {
			// The client may come here before the fuzzer has seen the
			// end of the last case; wait for it, off the event loop.
			go func() {
				sv.WaitIdle(s.ctx)
				s.loop.post(func() {
					if sv.OutDir != "" {
						if err := sv.Report().Write(sv.OutDir); err != nil {
							sv.logf("writing reports: %v", err)
						} else {
							sv.logf("Reports written to %s", sv.OutDir)
						}
					}
					s.sendClose(noCode, nil)
				})
			}()
		}
	case "/getCaseCount":
		s.onControlOpen = func() {
			s.sendMessage([]byte(strconv.Itoa(len(sv.Cases))), false, 0)
			s.sendClose(noCode, nil)
		}
	case "/getCaseInfo":
		if c == nil {
			return http.StatusBadRequest, "need case to get info"
		}
		s.onControlOpen = func() {
			b, _ := json.Marshal(map[string]string{"id": c.ID, "description": c.Description})
			s.sendMessage(b, false, 0)
			s.sendClose(noCode, nil)
		}
	case "/getCaseStatus":
		if c == nil {
			return http.StatusBadRequest, "need case to get status"
		}
		if s.agent == "" {
			return http.StatusBadRequest, "need agent to get status"
		}
		agent := s.agent
		s.onControlOpen = func() {
			sv.whenResult(agent, c.ID, func(r *Result) {
				s.loop.post(func() {
					b, _ := json.Marshal(map[string]Verdict{"behavior": r.Behavior})
					s.sendMessage(b, false, 0)
					s.sendClose(noCode, nil)
				})
			})
		}
	default:
		s.onControlOpen = func() { s.sendClose(noCode, nil) }
	}
	return 0, ""
}

// whenResult calls f with the result for agent and case, now if it is
// known, or when it arrives.
func (sv *Server) whenResult(agent, id string, f func(*Result)) {
	sv.mu.Lock()
	r := sv.reportLocked().Get(agent, id)
	if r == nil {
		if sv.listeners == nil {
			sv.listeners = map[string][]func(*Result){}
		}
		key := agent + "\x00" + id
		sv.listeners[key] = append(sv.listeners[key], f)
	}
	sv.mu.Unlock()
	if r != nil {
		f(r)
	}
}
