package suite

// What the fuzzer sends: frames exactly as described (valid or not),
// messages, and messages streamed frame by frame.

type frame struct {
	opcode    int
	payload   []byte
	more      bool // FIN clear
	rsv       int
	repeat    int  // with repeatSet: payload length, repeating payload
	repeatSet bool // repeat is given
	chop      int
	sync      bool
}

func (s *session) sendFrame(f frame) {
	pl := f.payload
	if f.repeatSet {
		pl = repeatPayload(f.payload, f.repeat)
	}
	var mask []byte
	if !s.isServer {
		mask = newMask()
	}
	raw := buildFrame(f.opcode, !f.more, f.rsv, pl, mask)
	if f.opcode <= 2 {
		s.traffic.OutgoingWebSocketFrames++
	}
	s.logTxFrame(f, mask)
	s.sendData(raw, f.sync, f.chop)
}

func (s *session) sendData(data []byte, sync bool, chop int) {
	if chop > 0 {
		for i := 0; i < len(data); i += chop {
			j := min(i+chop, len(data))
			s.writeOut(data[i:j], true)
		}
		if len(data) == 0 {
			s.writeOut(data, true)
		}
		return
	}
	s.writeOut(data, sync)
}

func (s *session) writeOut(p []byte, sync bool) {
	switch s.state {
	case stateClosed:
		return
	case stateOpen:
		s.traffic.OutgoingOctetsWireLevel += len(p)
	case stateConnecting:
		s.traffic.PreopenOutgoingOctetsWireLevel += len(p)
	}
	s.logTxOctets(p, sync)
	s.w.push(writeItem{data: p, sync: sync})
}

func (s *session) sendMessage(payload []byte, binary bool, fragmentSize int) {
	if s.state != stateOpen {
		return
	}
	opcode := opText
	if binary {
		opcode = opBinary
	}
	s.traffic.OutgoingWebSocketMessages++
	compressed := s.pmce != nil
	if compressed {
		s.traffic.OutgoingOctetsAppLevel += len(payload)
		payload = s.pmce.compress(payload)
		s.traffic.OutgoingOctetsWebSocketLevel += len(payload)
	} else {
		s.traffic.OutgoingOctetsAppLevel += len(payload)
		s.traffic.OutgoingOctetsWebSocketLevel += len(payload)
	}
	rsv := 0
	if compressed {
		rsv = 4
	}
	pfs := fragmentSize
	if pfs == 0 {
		pfs = s.autoFragmentSize
	}
	if pfs <= 0 || len(payload) <= pfs {
		s.sendFrame(frame{opcode: opcode, payload: payload, rsv: rsv})
		return
	}
	// Autobahn ends a message whose length is a multiple of the fragment
	// size with an empty final fragment; so does this loop.
	n := len(payload)
	first := true
	for i := 0; ; i += pfs {
		j := i + pfs
		done := j > n
		if done {
			j = n
		}
		if first {
			s.sendFrame(frame{opcode: opcode, payload: payload[i:j], more: !done, rsv: rsv})
			first = false
		} else {
			s.sendFrame(frame{opcode: opContinuation, payload: payload[i:j], more: !done})
		}
		if done {
			return
		}
	}
}

func (s *session) beginMessage(binary bool) {
	if s.state != stateOpen {
		return
	}
	s.sendOpcode = opText
	if binary {
		s.sendOpcode = opBinary
	}
	s.sendFirst = true
	s.traffic.OutgoingWebSocketMessages++
}

func (s *session) beginMessageFrame(length int) {
	if s.state != stateOpen {
		return
	}
	s.traffic.OutgoingWebSocketFrames++
	opcode := opContinuation
	if s.sendFirst {
		opcode = s.sendOpcode
		s.sendFirst = false
	}
	s.sendFrameMask = nil
	if !s.isServer {
		s.sendFrameMask = newMask()
	}
	s.sendFrameMaskP = 0
	s.sendFrameLeft = length
	s.sendData(appendHeader(nil, opcode, false, 0, uint64(length), s.sendFrameMask), false, 0)
}

func (s *session) sendMessageFrameData(p []byte) {
	if s.state != stateOpen {
		return
	}
	s.traffic.OutgoingOctetsAppLevel += len(p)
	s.traffic.OutgoingOctetsWebSocketLevel += len(p)
	if len(p) > s.sendFrameLeft {
		p = p[:s.sendFrameLeft]
	}
	s.sendFrameLeft -= len(p)
	out := append([]byte(nil), p...)
	if s.sendFrameMask != nil {
		s.sendFrameMaskP = maskBytes(out, [4]byte(s.sendFrameMask), s.sendFrameMaskP)
	}
	s.sendData(out, false, 0)
}

func (s *session) endMessage() {
	if s.state != stateOpen {
		return
	}
	s.sendFrame(frame{opcode: opContinuation})
}
