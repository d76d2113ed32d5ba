package websocket

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckOrigin pins how AcceptOptions.CheckOrigin combines with the
// built-in origin check: it is asked only about a well-formed cross-origin
// Origin that no pattern allows, and can only allow more.
func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		name      string
		origins   []string // Origin header values
		host      string   // the request's Host; "" for example.com
		tls       bool     // the request came over TLS
		patterns  []string
		skip      bool  // InsecureSkipOriginCheck
		answer    *bool // CheckOrigin's answer; nil: no CheckOrigin
		wantCalls int
		accepted  bool
	}{
		{
			name:      "no Origin",
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "same origin",
			origins:   []string{"http://example.com"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "pattern matches",
			origins:   []string{"https://app.good.example"},
			patterns:  []string{"*.good.example"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			// Unicode case folding (strings.EqualFold, ToLower) takes
			// U+212A (KELVIN SIGN) for "k": neither the same-host check
			// nor a pattern may.
			name:      "Kelvin sign against the request's host",
			origins:   []string{"http://\u212aitchen.example"},
			host:      "kitchen.example",
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "Kelvin sign against a pattern",
			origins:   []string{"https://\u212aitchen.example"},
			patterns:  []string{"kitchen.example"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "cross origin allowed by CheckOrigin",
			origins:   []string{"https://tenant.example"},
			patterns:  []string{"*.good.example"},
			answer:    ptr(true),
			wantCalls: 1,
			accepted:  true,
		},
		{
			name:      "cross origin refused by CheckOrigin",
			origins:   []string{"https://evil.example"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:     "cross origin without CheckOrigin",
			origins:  []string{"https://evil.example"},
			accepted: false,
		},
		{
			name:      "two Origin headers",
			origins:   []string{"https://tenant.example", "https://evil.example"},
			answer:    ptr(true),
			wantCalls: 0,
			accepted:  false,
		},
		{
			name:      "null Origin",
			origins:   []string{"null"},
			answer:    ptr(true),
			wantCalls: 0,
			accepted:  false,
		},
		{
			name:      "https Origin on a plain request to its host",
			origins:   []string{"https://example.com"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "https Origin on a TLS request to its host",
			origins:   []string{"https://example.com"},
			tls:       true,
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "http Origin on a TLS request to its host",
			origins:   []string{"http://example.com"},
			tls:       true,
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "http Origin on a TLS request, allowed by CheckOrigin",
			origins:   []string{"http://example.com"},
			tls:       true,
			answer:    ptr(true),
			wantCalls: 1,
			accepted:  true,
		},
		{
			name:      "http Origin on a TLS request, host pattern",
			origins:   []string{"http://app.good.example"},
			tls:       true,
			patterns:  []string{"*.good.example"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "http Origin on a TLS request, pattern pins http",
			origins:   []string{"http://example.com"},
			tls:       true,
			patterns:  []string{"http://example.com"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "ftp Origin on its host",
			origins:   []string{"ftp://example.com"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "ftp Origin, host pattern",
			origins:   []string{"ftp://app.good.example"},
			patterns:  []string{"*.good.example"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "extension Origin, pattern names its scheme",
			origins:   []string{"chrome-extension://abcdefghijklmnop"},
			patterns:  []string{"chrome-extension://abcdefghijklmnop"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "pattern pins https, http Origin",
			origins:   []string{"http://app.good.example"},
			patterns:  []string{"https://*.good.example"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "pattern pins https, https Origin",
			origins:   []string{"https://app.good.example"},
			patterns:  []string{"https://*.good.example"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "Host with https' default port",
			origins:   []string{"https://example.com"},
			host:      "example.com:443",
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "Origin with http's default port",
			origins:   []string{"http://example.com:80"},
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "Origin on another port",
			origins:   []string{"https://example.com:8443"},
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "http Origin, Host with https' default port",
			origins:   []string{"http://example.com"},
			host:      "example.com:443",
			answer:    ptr(false),
			wantCalls: 1,
			accepted:  false,
		},
		{
			name:      "IPv6 Origin with https' default port",
			origins:   []string{"https://[::1]:443"},
			host:      "[::1]",
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
		{
			name:      "InsecureSkipOriginCheck wins",
			origins:   []string{"https://evil.example"},
			skip:      true,
			answer:    ptr(false),
			wantCalls: 0,
			accepted:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "http://example.com/ws"
			if tc.tls {
				target = "https://example.com/ws" // sets r.TLS
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tc.host != "" {
				r.Host = tc.host
			}
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Version", "13")
			r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			for _, o := range tc.origins {
				r.Header.Add("Origin", o)
			}
			opts := &AcceptOptions{OriginPatterns: tc.patterns, InsecureSkipOriginCheck: tc.skip}
			calls := 0
			if tc.answer != nil {
				opts.CheckOrigin = func(r *http.Request) bool {
					calls++
					if got := r.Header.Get("Origin"); got != tc.origins[0] {
						t.Errorf("CheckOrigin sees Origin %q", got)
					}
					return *tc.answer
				}
			}
			// A recorder cannot be hijacked: a request that passes the
			// origin check gets 500 from the hijack instead of 403.
			w := httptest.NewRecorder()
			_, err := Accept(w, r, opts)
			var herr *HandshakeError
			if !errors.As(err, &herr) {
				t.Fatalf("Accept: %v", err)
			}
			want := http.StatusForbidden
			if tc.accepted {
				want = http.StatusInternalServerError
			}
			if herr.Status != want || w.Code != want {
				t.Errorf("status %d (answered %d), want %d: %v", herr.Status, w.Code, want, err)
			}
			if calls != tc.wantCalls {
				t.Errorf("CheckOrigin called %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// TestAcceptHijackError: the error of a writer that cannot be hijacked
// names the cause once and still matches http.ErrNotSupported.
func TestAcceptHijackError(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	_, err := Accept(httptest.NewRecorder(), r, nil)
	const want = "websocket: handshake failed: response writer cannot be hijacked: feature not supported"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("error %v does not match http.ErrNotSupported", err)
	}
	if strings.Count(err.Error(), "websocket:") != 1 {
		t.Errorf("error %q repeats its prefix", err)
	}
}

func ptr[T any](v T) *T { return &v }
