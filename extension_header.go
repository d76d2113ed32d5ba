package websocket

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// This file parses Sec-WebSocket-Extensions values (RFC 6455, section
// 9.1) into offers and their parameters.

type extensionParam struct {
	name     string // lower-cased
	value    string // unquoted
	hasValue bool
}

type extensionOffer struct {
	name   string // lower-cased extension token
	params []extensionParam
}

// parseExtensions parses Sec-WebSocket-Extensions header values (RFC 6455,
// section 9.1, with the list and whitespace rules of RFC 9110, section 5.6):
// comma-separated extensions, each a token followed by ";"-separated
// parameters, a parameter being a token, optionally with "=" and a token or
// a quoted string whose unescaped content is a token. Whitespace may
// surround every separator, and empty list elements are ignored. Extension
// and parameter names are lower-cased. On malformed input it returns an
// error wrapping errBadExtensionHeader that says what was expected where.
func parseExtensions(values []string) ([]extensionOffer, error) {
	var offers []extensionOffer
	sc := extensionScanner{values: values}
	for {
		ext, ok := sc.scan(nil)
		if !ok {
			break
		}
		offers = append(offers, ext)
	}
	if sc.err != nil {
		return nil, sc.err
	}
	return offers, nil
}

// checkExtensionSyntax reports the syntax error in Sec-WebSocket-Extensions
// values, as parseExtensions would, keeping nothing: every browser sends
// an offer, and a server without compression must not allocate to refuse
// or ignore it.
func checkExtensionSyntax(values []string) error {
	var buf [4]extensionParam
	sc := extensionScanner{values: values}
	for {
		if _, more := sc.scan(buf[:0]); !more {
			return sc.err
		}
	}
}

// extensionScanner reads Sec-WebSocket-Extensions values one extension at a
// time, so that negotiating a typical header allocates nothing.
type extensionScanner struct {
	values []string // values not yet started
	s      string   // the value being read
	i      int      // read position in s
	err    error    // the syntax error that ended the scan, if any
}

// scan reads the next extension, appending its parameters to params, and
// reports false at the end of the values or on a syntax error (then sc.err
// is set). The strings returned share memory with the header values.
func (sc *extensionScanner) scan(params []extensionParam) (extensionOffer, bool) {
	if sc.err != nil {
		return extensionOffer{}, false
	}
	// Find the next extension, skipping empty list elements and values.
	for {
		sc.skipSpace()
		if sc.i == len(sc.s) {
			if len(sc.values) == 0 {
				return extensionOffer{}, false
			}
			sc.s, sc.i, sc.values = sc.values[0], 0, sc.values[1:]
			continue
		}
		if sc.s[sc.i] != ',' {
			break
		}
		sc.i++
	}
	name, ok := sc.token("an extension name")
	if !ok {
		return extensionOffer{}, false
	}
	ext := extensionOffer{name: strings.ToLower(name), params: params}
	for {
		sc.skipSpace()
		if sc.i == len(sc.s) {
			return ext, true
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
			return ext, true
		case ';':
			sc.i++
		default:
			return extensionOffer{}, sc.fail(`";" or ","`)
		}
		sc.skipSpace()
		pname, ok := sc.token("a parameter name")
		if !ok {
			return extensionOffer{}, false
		}
		p := extensionParam{name: strings.ToLower(pname)}
		sc.skipSpace()
		if sc.i < len(sc.s) && sc.s[sc.i] == '=' {
			sc.i++
			sc.skipSpace()
			if p.value, ok = sc.paramValue(); !ok {
				return extensionOffer{}, false
			}
			p.hasValue = true
		}
		ext.params = append(ext.params, p)
	}
}

// skipSpace skips optional whitespace (OWS: spaces and horizontal tabs).
func (sc *extensionScanner) skipSpace() {
	for sc.i < len(sc.s) && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

// token reads a non-empty HTTP token; what names it for the error.
func (sc *extensionScanner) token(what string) (string, bool) {
	start := sc.i
	for sc.i < len(sc.s) && isTokenByte(sc.s[sc.i]) {
		sc.i++
	}
	if sc.i == start {
		return "", sc.fail(what)
	}
	return sc.s[start:sc.i], true
}

// paramValue reads a parameter value: a token or a quoted string whose
// unescaped content is a token (RFC 6455, section 9.1). It returns the
// unescaped value.
func (sc *extensionScanner) paramValue() (string, bool) {
	if sc.i == len(sc.s) || sc.s[sc.i] != '"' {
		return sc.token("a parameter value")
	}
	sc.i++
	start := sc.i
	var unescaped []byte // set once a quoted-pair has been seen
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			v := sc.s[start:sc.i]
			if unescaped != nil {
				v = string(unescaped)
			}
			if v == "" {
				return "", sc.fail("a token inside the quotes")
			}
			sc.i++
			return v, true
		case c == '\\':
			if unescaped == nil {
				unescaped = append(make([]byte, 0, 16), sc.s[start:sc.i]...)
			}
			sc.i++
			if sc.i == len(sc.s) {
				return "", sc.fail("a character after the backslash")
			}
			c = sc.s[sc.i]
			if !isTokenByte(c) {
				return "", sc.fail("a token character after the backslash")
			}
			unescaped = append(unescaped, c)
		case isTokenByte(c):
			if unescaped != nil {
				unescaped = append(unescaped, c)
			}
		default:
			return "", sc.fail(`a token character or closing '"' in the quoted value`)
		}
		sc.i++
	}
	return "", sc.fail(`closing '"'`)
}

// fail records a syntax error at the current position and returns false.
func (sc *extensionScanner) fail(expected string) bool {
	found := "end of value"
	if sc.i < len(sc.s) {
		found = strconv.QuoteRuneToASCII(rune(sc.s[sc.i]))
		if sc.s[sc.i] >= 0x80 {
			found = fmt.Sprintf("byte %#x", sc.s[sc.i])
		}
	}
	sc.err = fmt.Errorf("%w: expected %s at offset %d, found %s", errBadExtensionHeader, expected, sc.i, found)
	return false
}

func isTokenByte(c byte) bool { return httpguts.IsTokenRune(rune(c)) }
