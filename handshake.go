package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// acceptGUID is the fixed GUID of RFC 6455, section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// appendAcceptKey appends Sec-WebSocket-Accept for a Sec-WebSocket-Key to
// dst, without allocating for keys of the usual 24 bytes.
func appendAcceptKey(dst []byte, key string) []byte {
	var in [64]byte
	b := append(in[:0], key...)
	b = append(b, acceptGUID...)
	sum := sha1.Sum(b)
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	var out [28]byte
	return string(appendAcceptKey(out[:0], key))
}

// headerContainsToken reports whether any of the comma-separated values of
// header name contains token, compared case-insensitively.
func headerContainsToken(h http.Header, name, token string) bool {
	return httpguts.HeaderValuesContainsToken(h[name], token)
}

// headerTokens splits the comma-separated values of header name into
// trimmed, non-empty tokens.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h[name] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// emptyList reports whether the values of a list field hold no element:
// nothing but commas and whitespace.
func emptyList(values []string) bool {
	for _, v := range values {
		if strings.Trim(v, ", \t") != "" {
			return false
		}
	}
	return true
}

// checkVersion checks a request's Sec-WebSocket-Version: 13, once (RFC
// 6455, sections 4.2.1 and 11.3.5); any other gets 426.
func checkVersion(h http.Header) *HandshakeError {
	versions := h["Sec-Websocket-Version"]
	switch {
	case len(versions) == 0:
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Version header is missing"}
	case len(versions) > 1:
		return &HandshakeError{Status: http.StatusBadRequest, Reason: "Sec-WebSocket-Version appears more than once"}
	case strings.TrimSpace(versions[0]) != "13":
		return &HandshakeError{Status: http.StatusUpgradeRequired, Reason: fmt.Sprintf("Sec-WebSocket-Version %q is not supported, only 13", versions[0])}
	}
	return nil
}

// validKey reports whether a Sec-WebSocket-Key decodes to 16 bytes.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// checkHeaderFields reports the first header field that may not be sent as
// given, guarding against header injection through user-supplied values.
func checkHeaderFields(h http.Header) (string, bool) {
	for name, values := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return name, false
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return name, false
			}
		}
	}
	return "", true
}

// validToken reports whether s is an HTTP token, as subprotocol names must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}
