package websocket

import (
	"errors"
	"fmt"
	"strconv"
)

// This file negotiates the permessage-deflate extension (RFC 7692) in the
// opening handshake: it answers a client's offers on the server and checks
// the server's answer on the client. It does no I/O; deflate.go moves the
// data, and extension_header.go parses the header.

// deflateParams are the negotiated parameters in force on one connection.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 8..15; 15 when not negotiated
	clientMaxWindowBits     int // 8..15; 15 when not negotiated
}

// Names of the permessage-deflate extension and its parameters (RFC 7692,
// section 7.1).
const (
	deflateExtensionName         = "permessage-deflate"
	paramServerNoContextTakeover = "server_no_context_takeover"
	paramClientNoContextTakeover = "client_no_context_takeover"
	paramServerMaxWindowBits     = "server_max_window_bits"
	paramClientMaxWindowBits     = "client_max_window_bits"

	deflateMinWindowBits = 8
	deflateMaxWindowBits = 15
)

// errBadExtensionHeader is wrapped by every syntax error in a
// Sec-WebSocket-Extensions value. Accept refuses such a request with 400:
// RFC 6455 (section 4.2.1) lets a server ignore extensions it does not
// understand, but a header that does not parse is a malformed request,
// and the error lets a caller tell the two apart.
var errBadExtensionHeader = errors.New("malformed Sec-WebSocket-Extensions header")

// deflateEnabled reports whether opts ask for permessage-deflate. It is the
// one test of whether compression is on, for both roles; an undefined mode
// is off here, and refused before any handshake by Dial and Accept.
func deflateEnabled(opts *CompressionOptions) bool {
	return opts != nil && opts.Mode != CompressionDisabled && opts.Mode.valid()
}

// deflateWindowLimit is opts.MaxWindowBits with the default applied and
// clamped into 8..15.
func deflateWindowLimit(opts *CompressionOptions) int {
	return clampWindowBits(opts.MaxWindowBits)
}

// deflateSendWindow is opts.SendWindowBits with the default applied and
// clamped into 8..15: the largest window we compress with.
func deflateSendWindow(opts *CompressionOptions) int {
	return clampWindowBits(opts.SendWindowBits)
}

// announcedWindow is what we write in a handshake, on our own initiative,
// for a window of n bits: 9 for 8, since zlib cannot compress with an
// 8-bit window and some peers refuse the value or fail the handshake on
// it (python-websockets answers 500 to server_max_window_bits=8). For our
// own window, compressing with a smaller one than announced is always
// valid; for the peer's, we keep 512 bytes of history whatever we allow
// (newDeflate), so allowing 9 costs nothing.
func announcedWindow(n int) int { return max(n, deflateMinWindowBits+1) }

// clampWindowBits applies the default, 15 for 0, and clamps n into 8..15.
func clampWindowBits(n int) int {
	switch {
	case n == 0 || n > deflateMaxWindowBits:
		return deflateMaxWindowBits
	case n < deflateMinWindowBits:
		return deflateMinWindowBits
	default:
		return n
	}
}

// deflateSettings are the permessage-deflate parameters as written in one
// offer or response; window bits are 0 where the parameter is absent.
type deflateSettings struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
	// clientMaxWindowBitsBare is client_max_window_bits without a value,
	// allowed only in an offer: the client supports being limited.
	clientMaxWindowBitsBare bool
}

// offersClientMaxWindowBits reports whether client_max_window_bits is
// present, with or without a value.
func (d *deflateSettings) offersClientMaxWindowBits() bool {
	return d.clientMaxWindowBits != 0 || d.clientMaxWindowBitsBare
}

// params returns the parameters in force when d is the response.
func (d *deflateSettings) params() deflateParams {
	p := deflateParams{
		serverNoContextTakeover: d.serverNoContextTakeover,
		clientNoContextTakeover: d.clientNoContextTakeover,
		serverMaxWindowBits:     d.serverMaxWindowBits,
		clientMaxWindowBits:     d.clientMaxWindowBits,
	}
	if p.serverMaxWindowBits == 0 {
		p.serverMaxWindowBits = deflateMaxWindowBits
	}
	if p.clientMaxWindowBits == 0 {
		p.clientMaxWindowBits = deflateMaxWindowBits
	}
	return p
}

// appendHeader appends d as a Sec-WebSocket-Extensions element.
func (d *deflateSettings) appendHeader(b []byte) []byte {
	b = append(b, deflateExtensionName...)
	if d.serverNoContextTakeover {
		b = append(b, "; "+paramServerNoContextTakeover...)
	}
	if d.clientNoContextTakeover {
		b = append(b, "; "+paramClientNoContextTakeover...)
	}
	if d.serverMaxWindowBits != 0 {
		b = append(b, "; "+paramServerMaxWindowBits+"="...)
		b = strconv.AppendInt(b, int64(d.serverMaxWindowBits), 10)
	}
	switch {
	case d.clientMaxWindowBits != 0:
		b = append(b, "; "+paramClientMaxWindowBits+"="...)
		b = strconv.AppendInt(b, int64(d.clientMaxWindowBits), 10)
	case d.clientMaxWindowBitsBare:
		b = append(b, "; "+paramClientMaxWindowBits...)
	}
	return b
}

// header returns d as a Sec-WebSocket-Extensions value.
func (d *deflateSettings) header() string {
	var buf [128]byte // fits the longest possible value
	return string(d.appendHeader(buf[:0]))
}

// readDeflateSettings validates the parameters of one permessage-deflate
// offer or response (RFC 7692, sections 5 and 7.1): each at most once, the
// takeover flags without a value, window bits an integer from 8 to 15
// without leading zeros, required in a response and for
// server_max_window_bits.
func readDeflateSettings(params []extensionParam, response bool) (deflateSettings, error) {
	var (
		d    deflateSettings
		seen uint8
	)
	for _, p := range params {
		var (
			bit uint8
			err error
		)
		switch p.name {
		case paramServerNoContextTakeover:
			bit = 1 << 0
			d.serverNoContextTakeover = true
			err = noValue(p)
		case paramClientNoContextTakeover:
			bit = 1 << 1
			d.clientNoContextTakeover = true
			err = noValue(p)
		case paramServerMaxWindowBits:
			bit = 1 << 2
			d.serverMaxWindowBits, err = windowBits(p, true)
		case paramClientMaxWindowBits:
			bit = 1 << 3
			d.clientMaxWindowBits, err = windowBits(p, response)
			d.clientMaxWindowBitsBare = !p.hasValue
		default:
			return deflateSettings{}, fmt.Errorf("unknown parameter %q", p.name)
		}
		if seen&bit != 0 {
			return deflateSettings{}, fmt.Errorf("duplicate parameter %s", p.name)
		}
		seen |= bit
		if err != nil {
			return deflateSettings{}, err
		}
	}
	return d, nil
}

func noValue(p extensionParam) error {
	if p.hasValue {
		return fmt.Errorf("parameter %s must not have a value, got %q", p.name, p.value)
	}
	return nil
}

// windowBits reads the value of a window bits parameter; 0 if it has none
// and none is required.
func windowBits(p extensionParam, required bool) (int, error) {
	if !p.hasValue {
		if required {
			return 0, fmt.Errorf("parameter %s needs a value", p.name)
		}
		return 0, nil
	}
	n, ok := parseWindowBits(p.value)
	if !ok {
		return 0, fmt.Errorf("parameter %s=%q is not an integer from 8 to 15", p.name, p.value)
	}
	return n, nil
}

// parseWindowBits parses a decimal integer from 8 to 15 without leading
// zeros or sign.
func parseWindowBits(s string) (int, bool) {
	switch {
	case len(s) == 1 && (s[0] == '8' || s[0] == '9'):
		return int(s[0] - '0'), true
	case len(s) == 2 && s[0] == '1' && '0' <= s[1] && s[1] <= '5':
		return 10 + int(s[1]-'0'), true
	}
	return 0, false
}

// Server side.

// negotiateDeflate is the server side: given the client's
// Sec-WebSocket-Extensions values and our options, it picks the first
// acceptable permessage-deflate offer (offers come in the client's order of
// preference) and returns the parameters in force and the response value to
// send. Offers with unknown, duplicated or invalid parameters are declined
// (RFC 7692, section 5), as are offers we cannot honour. ok is false when no
// offer is acceptable, and always when opts disable compression. A header
// that does not parse yields an error wrapping errBadExtensionHeader.
//
// The answer to an acceptable offer:
//   - server_no_context_takeover if the client asked for it, or always in
//     CompressionNoContextTakeover mode;
//   - client_no_context_takeover if the client promised it (its hint is
//     made binding), or always in CompressionNoContextTakeover mode;
//   - server_max_window_bits=N if the client asked for N (the compressor
//     can produce output for any window), or the smaller of N and our
//     SendWindowBits (announced as 9 when 8); with no N, our
//     SendWindowBits if below 15, which RFC 7692 section 7.1.2.1 lets a
//     server include on its own;
//   - client_max_window_bits=min(offered, MaxWindowBits) if the client
//     offered the parameter and the result is below 15 or the client gave a
//     value; MaxWindowBits 8 counts as 9 here. An offer without the parameter is declined when MaxWindowBits
//     is below 15, since such a client may use the full window.
func negotiateDeflate(values []string, opts *CompressionOptions) (params deflateParams, response string, ok bool, err error) {
	if !deflateEnabled(opts) {
		return deflateParams{}, "", false, nil
	}
	_, answer, ok, err := chooseDeflateOffer(values, opts)
	if !ok || err != nil {
		return deflateParams{}, "", false, err
	}
	return answer.params(), answer.header(), true, nil
}

// chooseDeflateOffer returns the first acceptable permessage-deflate offer
// in values and our answer to it. It reads the whole header, so that a
// syntax error anywhere is reported.
func chooseDeflateOffer(values []string, opts *CompressionOptions) (offer, answer deflateSettings, ok bool, err error) {
	var buf [4]extensionParam // a valid offer has at most four parameters
	sc := extensionScanner{values: values}
	for {
		ext, more := sc.scan(buf[:0])
		if !more {
			break
		}
		if ok || ext.name != deflateExtensionName {
			continue
		}
		o, err := readDeflateSettings(ext.params, false)
		if err != nil {
			continue // declined, RFC 7692 section 5
		}
		if a, acceptable := answerDeflateOffer(&o, opts); acceptable {
			offer, answer, ok = o, a, true
		}
	}
	if sc.err != nil {
		return deflateSettings{}, deflateSettings{}, false, sc.err
	}
	return offer, answer, ok, nil
}

// answerDeflateOffer returns our response to a valid offer, or false if we
// cannot accept it.
func answerDeflateOffer(o *deflateSettings, opts *CompressionOptions) (deflateSettings, bool) {
	noTakeover := opts.Mode == CompressionNoContextTakeover
	a := deflateSettings{
		serverNoContextTakeover: o.serverNoContextTakeover || noTakeover,
		clientNoContextTakeover: o.clientNoContextTakeover || noTakeover,
	}
	// Section 7.1.2.1: the same or a smaller value than offered; one of
	// our own when none was.
	send := deflateSendWindow(opts)
	switch {
	case o.serverMaxWindowBits != 0:
		a.serverMaxWindowBits = min(o.serverMaxWindowBits, announcedWindow(send))
	case send < deflateMaxWindowBits:
		a.serverMaxWindowBits = announcedWindow(send)
	}
	limit := announcedWindow(deflateWindowLimit(opts))
	switch {
	case o.clientMaxWindowBits != 0:
		a.clientMaxWindowBits = min(o.clientMaxWindowBits, limit)
	case o.clientMaxWindowBitsBare:
		if limit < deflateMaxWindowBits {
			a.clientMaxWindowBits = limit
		}
	case limit < deflateMaxWindowBits:
		return deflateSettings{}, false // the client may use 15 bits
	}
	return a, true
}

// Client side.

// deflateOffer is the client side: the Sec-WebSocket-Extensions value to
// offer for opts, or "" when compression is disabled. The offer always
// includes client_max_window_bits (we can compress for any window the
// server asks for): without a value, or with SendWindowBits when below 15
// (announced as 9 when 8), the hint of RFC 7692 section 7.1.2.2 that we
// will use no larger a window. It asks for no context takeover in both
// directions in CompressionNoContextTakeover mode, and for
// server_max_window_bits=N when MaxWindowBits is below 15 (9 when 8).
func deflateOffer(opts *CompressionOptions) string {
	if !deflateEnabled(opts) {
		return ""
	}
	o := clientDeflateOffer(opts)
	return o.header()
}

// clientDeflateOffer is the offer deflateOffer writes for opts.
func clientDeflateOffer(opts *CompressionOptions) deflateSettings {
	noTakeover := opts.Mode == CompressionNoContextTakeover
	o := deflateSettings{
		serverNoContextTakeover: noTakeover,
		clientNoContextTakeover: noTakeover,
	}
	if send := deflateSendWindow(opts); send < deflateMaxWindowBits {
		o.clientMaxWindowBits = announcedWindow(send)
	} else {
		o.clientMaxWindowBitsBare = true
	}
	if limit := deflateWindowLimit(opts); limit < deflateMaxWindowBits {
		o.serverMaxWindowBits = announcedWindow(limit)
	}
	return o
}

// acceptDeflateResponse is the client side: it validates the server's
// Sec-WebSocket-Extensions values against what deflateOffer(opts) offered
// and returns the parameters in force. used is false if the server chose no
// extension. Any error means the client must fail the handshake (RFC 6455,
// section 4.1; RFC 7692, section 5); it names the offending extension or
// parameter.
func acceptDeflateResponse(values []string, opts *CompressionOptions) (params deflateParams, used bool, err error) {
	if !deflateEnabled(opts) {
		return checkDeflateResponse(values, nil)
	}
	offer := clientDeflateOffer(opts)
	return checkDeflateResponse(values, &offer)
}

// checkDeflateResponse validates a response against offer, which is nil if
// nothing was offered.
func checkDeflateResponse(values []string, offer *deflateSettings) (params deflateParams, used bool, err error) {
	exts, err := parseExtensions(values)
	switch {
	case err != nil:
		return deflateParams{}, false, err
	case len(exts) == 0:
		return deflateParams{}, false, nil
	case offer == nil || exts[0].name != deflateExtensionName:
		return deflateParams{}, false, fmt.Errorf("server chose extension %q, which was not offered", exts[0].name)
	case len(exts) > 1:
		return deflateParams{}, false, fmt.Errorf("server chose %d extensions, but only %s was offered", len(exts), deflateExtensionName)
	}
	r, err := readDeflateSettings(exts[0].params, true)
	if err != nil {
		return deflateParams{}, false, fmt.Errorf("%s response: %w", deflateExtensionName, err)
	}
	if err := r.checkAgainst(offer); err != nil {
		return deflateParams{}, false, fmt.Errorf("%s response: %w", deflateExtensionName, err)
	}
	params = r.params()
	// Our own promise holds whether or not the server repeated it.
	params.clientNoContextTakeover = params.clientNoContextTakeover || offer.clientNoContextTakeover
	// So does our hint: whatever the server answers, we use no larger a
	// window than the client_max_window_bits we offered (section 7.1.2.2).
	if offer.clientMaxWindowBits != 0 {
		params.clientMaxWindowBits = min(params.clientMaxWindowBits, offer.clientMaxWindowBits)
	}
	return params, true, nil
}

// checkAgainst reports how response r fails to accept offer o (RFC 7692,
// sections 7.1.1 and 7.1.2). A server may add server_no_context_takeover,
// client_no_context_takeover and server_max_window_bits on its own.
//
// A client_max_window_bits larger than the value we offered breaks the
// server's rule of section 7.1.2.2 ("equal to or smaller than the received
// value"), but harms nothing: the same section makes our value a promise
// that holds whatever the response says, so we keep to it. Servers that
// drop the value and answer their own window (Autobahn's fuzzing server
// answers client_max_window_bits=15 in cases 13.4 and 13.6) then still
// interoperate.
func (r *deflateSettings) checkAgainst(o *deflateSettings) error {
	if o.serverNoContextTakeover && !r.serverNoContextTakeover {
		return fmt.Errorf("%s was requested but is missing", paramServerNoContextTakeover)
	}
	if o.serverMaxWindowBits != 0 {
		switch {
		case r.serverMaxWindowBits == 0:
			return fmt.Errorf("%s=%d was requested but is missing", paramServerMaxWindowBits, o.serverMaxWindowBits)
		case r.serverMaxWindowBits > o.serverMaxWindowBits:
			return fmt.Errorf("%s=%d is larger than the %d requested", paramServerMaxWindowBits, r.serverMaxWindowBits, o.serverMaxWindowBits)
		}
	}
	if r.clientMaxWindowBits != 0 && !o.offersClientMaxWindowBits() {
		return fmt.Errorf("%s=%d was not offered", paramClientMaxWindowBits, r.clientMaxWindowBits)
	}
	return nil
}
