package websocket

import (
	"errors"

	lz "github.com/fullduplex/websocket/internal/deflate"
)

// A Poller's loop inflates a compressed message that comes in pieces
// (fragments, or one frame over several reads) as each piece arrives,
// instead of gathering its payload first: a loop never waits for a peer,
// and the payload is read once, from the read buffer, where it was just
// unmasked. The output gathers in the reader's partial, checked as it
// comes (UTF-8, the read limit), so a bad or oversized message fails at
// the piece that makes it so. What a piece leaves undecoded, the start of
// a symbol or block header that the next piece completes (under 300
// bytes), waits in the inflater's scratch.

// errRestTooLong is the failure of a piece whose undecoded rest does not
// fit scratch, which the inflater's bound on Rest rules out.
var errRestTooLong = errors.New("undecoded compressed data longer than a block header")

// startStream prepares to inflate a message fed in pieces.
func (d *deflate) startStream() *inflater {
	inf := inflaterPool.Get().(*inflater)
	var dict []byte
	if d.recvTakeover {
		dict = d.recvHist.Bytes()
	}
	inf.z.ResetStream(dict)
	inf.restN = 0
	return inf
}

// feed gives the inflater its next input: the rest of the last one, then
// payload, of which it returns the part not given yet. Joining the two
// copies at most scratch's size of payload; without a rest, payload is
// read where it is.
func (inf *inflater) feed(payload []byte, more bool) (left []byte) {
	if inf.restN == 0 {
		inf.z.Feed(payload, more)
		return nil
	}
	n := inf.restN + copy(inf.scratch[inf.restN:], payload)
	left = payload[n-inf.restN:]
	inf.restN = 0
	inf.z.Feed(inf.scratch[:n], more || len(left) > 0)
	return left
}

// inflateArriving inflates payload, the next piece of the compressed
// message in progress; last reports that it ends the message. It returns
// the message, inflated, once its last piece is in (its storage goes back
// to the pool with the next message's start, or with the connection);
// before, nil.
func (r *reader) inflateArriving(payload []byte, last bool) ([]byte, error) {
	if r.inf == nil {
		r.inf = r.c.deflate.startStream()
	}
	for {
		left := r.inf.feed(payload, !last)
		// endOfMessage, at the message's end, lets go of partial: the
		// output is taken out of it for the call.
		out := r.partialBuf()
		r.partial = nil
		msg, err := r.appendInflated(nil, *out)
		*out = msg
		if err != lz.ErrNeedInput {
			r.partial = out
			if err != nil || r.inMessage {
				return nil, err
			}
			return msg, nil
		}
		r.partial = out
		rest := r.inf.z.Rest()
		fed := len(payload) - len(left)
		switch {
		case len(left) == 0:
			if len(rest) > len(r.inf.scratch) {
				return nil, r.failDecode(nil, r.dec.FailInflate(errRestTooLong.Error()))
			}
			r.inf.restN = copy(r.inf.scratch[:], rest)
			return nil, nil
		case len(rest) <= fed:
			// The rest is the end of what was copied from payload: go on
			// from there in payload itself.
			payload = payload[fed-len(rest):]
		default:
			r.inf.restN = copy(r.inf.scratch[:], rest)
			payload = left
		}
	}
}
