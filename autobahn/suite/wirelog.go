package suite

import (
	"encoding/hex"
	"fmt"
)

// The wire log and statistics, in Autobahn's report format.

// maxLogData is how much of a payload the log shows.
const maxLogData = 64

func binLogData(p []byte) string {
	if len(p) > maxLogData-4 {
		return hex.EncodeToString(p[:min(len(p), maxLogData)]) + " ..."
	}
	return hex.EncodeToString(p)
}

func asciiLogData(p []byte) string {
	d := p
	ell := false
	if len(p) > maxLogData-4 {
		d = p[:maxLogData]
		ell = true
	}
	var v utf8Validator
	if !v.write(d) || !v.complete() {
		return "0x" + binLogData(p)
	}
	if ell {
		return string(d) + " ..."
	}
	return string(d)
}

func (s *session) logRxOctets(p []byte) {
	if s.createStats {
		s.rxOctetStats[len(p)]++
	}
	if s.createWirelog {
		s.wirelog = append(s.wirelog, []any{"RO", []any{len(p), binLogData(p)}})
	}
}

func (s *session) logTxOctets(p []byte, sync bool) {
	if s.createStats {
		s.txOctetStats[len(p)]++
	}
	if s.createWirelog {
		s.wirelog = append(s.wirelog, []any{"TO", []any{len(p), binLogData(p)}, sync})
	}
}

func (s *session) logRxFrame(h *frameHeader, payload []byte) {
	if s.createStats {
		s.rxFrameStats[h.opcode]++
	}
	if s.createWirelog {
		var mask any
		if h.masked {
			mask = hex.EncodeToString(h.mask[:])
		}
		s.wirelog = append(s.wirelog, []any{"RF", []any{len(payload), asciiLogData(payload)}, h.opcode, h.fin, h.rsv, h.masked, mask})
	}
}

func (s *session) logTxFrame(f frame, mask []byte) {
	if s.createStats {
		s.txFrameStats[f.opcode]++
	}
	if s.createWirelog {
		var m, rep, chop any
		if mask != nil {
			m = hex.EncodeToString(mask)
		}
		if f.repeatSet {
			rep = f.repeat
		}
		if f.chop > 0 {
			chop = f.chop
		}
		s.wirelog = append(s.wirelog, []any{"TF", []any{len(f.payload), asciiLogData(f.payload)}, f.opcode, !f.more, f.rsv, m, rep, chop, f.sync})
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func joinInts(list []int) string {
	out := ""
	for i, x := range list {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(x)
	}
	return out
}
