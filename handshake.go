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

// trimOWS trims the optional whitespace around a field value or a list
// element: spaces and tabs (RFC 9110, section 5.6.3), and nothing else.
// strings.TrimSpace would also take Unicode spaces such as U+00A0, letting
// "13\u00a0" pass for "13".
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// equalFoldASCII reports whether s and t are equal with ASCII letters
// compared in any case. Field names, tokens and host names in the
// handshake are ASCII; strings.EqualFold folds Unicode too, and would take
// "websoc\u212aet" (KELVIN SIGN) for "websocket".
func equalFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lowerASCII(t[i]) {
			return false
		}
	}
	return true
}

// toLowerASCII returns s with its ASCII letters in lower case, and nothing
// else changed (strings.ToLower makes "k" of U+212A, among others).
func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// headerTokens splits the comma-separated values of header name into
// trimmed, non-empty tokens.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h[name] {
		for _, t := range strings.Split(v, ",") {
			if t = trimOWS(t); t != "" {
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
	case trimOWS(versions[0]) != "13":
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
