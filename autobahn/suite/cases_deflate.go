package suite

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// Families 12 and 13: permessage-deflate (RFC 7692).

// messageSizes are the (payload size, count, seconds, auto-fragment size) of
// the 18 cases of every subcategory.
var messageSizes = []struct {
	size, count int
	wait        float64
	frag        int
}{
	{16, 1000, 60, 0},
	{64, 1000, 60, 0},
	{256, 1000, 120, 0},
	{1024, 1000, 240, 0},
	{4096, 1000, 480, 0},
	{8192, 1000, 480, 0},
	{16384, 1000, 480, 0},
	{32768, 1000, 480, 0},
	{65536, 1000, 480, 0},
	{131072, 1000, 480, 0},
	{8192, 1000, 480, 256},
	{16384, 1000, 480, 256},
	{32768, 1000, 480, 256},
	{65536, 1000, 480, 256},
	{131072, 1000, 480, 256},
	{131072, 1000, 480, 1024},
	{131072, 1000, 480, 4096},
	{131072, 1000, 480, 32768},
}

// compressionCorpora are the data sets of 12.1 to 12.5, in Autobahn's
// order.
var compressionCorpora = []*corpus{corpusJSON, corpusBitmap, corpusProse, corpusHTML, corpusPDF}

func firstOffer(offers []deflateOffer, ok func(deflateOffer) bool, a func(deflateOffer) *deflateAccept) *deflateAccept {
	for _, o := range offers {
		if ok(o) {
			return a(o)
		}
	}
	return nil
}

func anyOffer(deflateOffer) bool { return true }

func nct(o deflateOffer) bool { return o.acceptNoContextTakeover }

func mwb(o deflateOffer) bool { return o.acceptMaxWindowBits }

func nctMwb(o deflateOffer) bool { return o.acceptNoContextTakeover && o.acceptMaxWindowBits }

// deflateParams are the seven parameter sets of 13.1 to 13.7: the client's
// offers and the server's way of answering them.
var deflateParams = []struct {
	offers []deflateOffer
	accept acceptFunc
	desc   string
}{
	{
		offers: []deflateOffer{defaultOffer},
		accept: func(os []deflateOffer) *deflateAccept {
			return firstOffer(os, anyOffer, func(o deflateOffer) *deflateAccept { return &deflateAccept{offer: o} })
		},
		desc: "server accepts as offered",
	},
	{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true}},
		accept: accept2,
		desc:   "server asks for client_no_context_takeover",
	},
	{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestMaxWindowBits: 9}},
		accept: func(os []deflateOffer) *deflateAccept {
			return firstOffer(os, mwb, func(o deflateOffer) *deflateAccept { return &deflateAccept{offer: o, requestMaxWindowBits: 9} })
		},
		desc: "server asks for client_max_window_bits=9",
	},
	{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestMaxWindowBits: 15}},
		accept: func(os []deflateOffer) *deflateAccept {
			return firstOffer(os, mwb, func(o deflateOffer) *deflateAccept { return &deflateAccept{offer: o, requestMaxWindowBits: 15} })
		},
		desc: "server asks for client_max_window_bits=15",
	},
	{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true, requestMaxWindowBits: 9}},
		accept: accept5,
		desc:   "server asks for client_no_context_takeover and client_max_window_bits=9",
	},
	{
		offers: []deflateOffer{{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true, requestMaxWindowBits: 15}},
		accept: func(os []deflateOffer) *deflateAccept {
			return firstOffer(os, nctMwb, func(o deflateOffer) *deflateAccept {
				return &deflateAccept{offer: o, requestNoContextTakeover: true, requestMaxWindowBits: 15}
			})
		},
		desc: "server asks for client_no_context_takeover and client_max_window_bits=15",
	},
	{
		offers: []deflateOffer{
			{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true, requestMaxWindowBits: 9},
			{acceptNoContextTakeover: true, acceptMaxWindowBits: true, requestNoContextTakeover: true},
			defaultOffer,
		},
		accept: func(os []deflateOffer) *deflateAccept {
			if a := accept5(os); a != nil {
				return a
			}
			if a := accept2(os); a != nil {
				return a
			}
			return firstOffer(os, anyOffer, func(o deflateOffer) *deflateAccept { return &deflateAccept{offer: o} })
		},
		desc: "server tries the answers of 13.5, then 13.2, then 13.1",
	},
}

func accept2(os []deflateOffer) *deflateAccept {
	return firstOffer(os, nct, func(o deflateOffer) *deflateAccept { return &deflateAccept{offer: o, requestNoContextTakeover: true} })
}

func accept5(os []deflateOffer) *deflateAccept {
	return firstOffer(os, nctMwb, func(o deflateOffer) *deflateAccept {
		return &deflateAccept{offer: o, requestNoContextTakeover: true, requestMaxWindowBits: 9}
	})
}

func offersString(os []deflateOffer) string {
	var b bytes.Buffer
	for i, o := range os {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.String())
	}
	return b.String()
}

// compressionCase builds one case of 12 or 13.
func compressionCase(id string, data *corpus, size, count int, wait float64, frag int, dc *deflateCase, offerDesc string) *Case {
	kind := "text"
	if data.binary {
		kind = "binary"
	}
	c := &Case{
		ID: id,
		Description: fmt.Sprintf("Send %d compressed %s messages of %d %s each (slices of the %s data set), auto-fragmented to %d octets, each after the echo of the one before. Offer: %s.",
			count, kind, size, map[bool]string{true: "octets", false: "characters"}[data.binary], data.name, frag, offerDesc),
		Expectation: fmt.Sprintf("Every message comes back as sent, within %d seconds.", int(wait)),
		deflate:     dc,
		limit:       seconds(wait),
		scaled:      true,
	}
	c.build = func(s *session) hooks {
		s.reportTime = true
		s.reportCompressionRatio = true
		s.expectNormalClose()
		n := s.opts.scaled(count)
		sent, ptr := 0, 0
		var want [20]byte
		sendOne := func() {
			var msg []byte
			if size > 0 {
				total := data.units()
				from, to := ptr, (ptr+size)%total
				if to > from {
					msg = data.slice(from, to)
				} else {
					msg = append(append([]byte{}, data.slice(from, total)...), data.slice(0, to)...)
				}
				ptr = to
			}
			want = sha1.Sum(msg)
			s.sendMessage(msg, data.binary, 0)
			sent++
		}
		return hooks{
			onOpen: func() {
				s.enableWirelog(false)
				s.autoFragmentSize = frag
				if s.pmce == nil {
					s.behavior = Unimplemented
					s.sendClose(closeNormal, nil)
					return
				}
				s.behavior = Failed
				s.result = fmt.Sprintf("Case did not finish within %d seconds.", int(wait))
				s.closeAfter(seconds(wait))
				sendOne()
			},
			onMessage: func(p []byte, binary bool) {
				got := sha1.Sum(p)
				length := len(p)
				if !data.binary {
					length = utf8.RuneCount(p)
				}
				switch {
				case binary != data.binary:
					s.behavior = Failed
					s.result = fmt.Sprintf("Echo'ed message type differs from what I sent (got binary %v, expected binary %v).", binary, data.binary)
				case length != size:
					s.behavior = Failed
					s.result = fmt.Sprintf("Echo'ed message length differs from what I sent (got length %d, expected length %d).", length, size)
				case got != want:
					s.behavior = Failed
					s.result = fmt.Sprintf("Echo'ed message contents differs from what I sent (got SHA1 %s, expected SHA1 %s).", hex.EncodeToString(got[:]), hex.EncodeToString(want[:]))
				case sent < n:
					sendOne()
					return
				default:
					s.behavior = OK
					s.result = "Ok, received all echo'ed messages in time."
					s.trafficCopy = s.traffic.snapshot()
				}
				s.enableWirelog(true)
				s.sendClose(closeNormal, nil)
			},
		}
	}
	return c
}

func compressionCases() []*Case {
	var cs []*Case
	def := &deflateCase{offers: []deflateOffer{defaultOffer}, accept: deflateParams[0].accept}
	for j, data := range compressionCorpora {
		for i, m := range messageSizes {
			cs = append(cs, compressionCase(fmt.Sprintf("12.%d.%d", j+1, i+1), data, m.size, m.count, m.wait, m.frag, def, offersString(def.offers)))
		}
	}
	for j, p := range deflateParams {
		dc := &deflateCase{offers: p.offers, accept: p.accept}
		for i, m := range messageSizes {
			cs = append(cs, compressionCase(fmt.Sprintf("13.%d.%d", j+1, i+1), corpusJSON, m.size, m.count, m.wait, m.frag, dc, offersString(p.offers)+"; "+p.desc))
		}
	}
	return cs
}

// compressionSubcategories names the subcategories 12.x and 13.x.
func compressionSubcategories() map[string]string {
	m := map[string]string{}
	for j, data := range compressionCorpora {
		kind := "utf8"
		if data.binary {
			kind = "binary"
		}
		m[fmt.Sprintf("12.%d", j+1)] = fmt.Sprintf("%s (%s, %d bytes)", data.desc, kind, data.size)
	}
	for j, p := range deflateParams {
		m[fmt.Sprintf("13.%d", j+1)] = fmt.Sprintf("%s (utf8, %d bytes) - client offers: %s; %s", corpusJSON.desc, corpusJSON.size, offersString(p.offers), p.desc)
	}
	return m
}
