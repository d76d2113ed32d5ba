package websocket

import (
	"context"
	"errors"
	"io"

	lz "github.com/fullduplex/websocket/internal/deflate"
)

// A compressed message is inflated as its pieces arrive (frames, or the
// parts of one frame that each read brings), never gathered first: the
// payload is read once, where it was just unmasked, a bad or oversized
// message fails at the piece that makes it so, and what a message holds
// while it arrives is its output, not its compressed payload too.
//
// Two drivers feed the inflater. A goroutine's Read pulls: when the
// inflater runs out of input, readInflated reads the next piece, waiting
// for the network (a ctx that ends there leaves the inflater as it was).
// A Poller's loop pushes: inflateArriving inflates each piece as its
// event delivers it and returns. Either way, what a piece leaves undecoded
// (the start of a symbol or block header that the next piece completes,
// under 300 bytes) is copied into the inflater's scratch before the read
// buffer it points into is reused, and joined there with the next piece.

// errRestTooLong fails a piece whose undecoded rest does not fit scratch,
// which the inflater's bound on Rest rules out.
var errRestTooLong = errors.New("undecoded compressed data longer than a block header")

// startStream prepares to inflate a message fed in pieces, the first of
// which is chunk.
func (d *deflate) startStream(chunk []byte) *inflater {
	inf := inflaterPool.Get().(*inflater)
	var dict []byte
	if d.recvTakeover {
		dict = d.recvHist.Bytes()
	}
	inf.z.ResetStream(dict)
	inf.restN, inf.starved, inf.kept, inf.left, inf.pushed, inf.ringed = 0, 0, false, chunk, false, false
	return inf
}

// give gives the inflater its next input from left, the part of the
// current piece it has not had: joined in scratch to the rest it kept, as
// much as scratch takes, or with no rest, all of it, read in place (the
// piece must then stay as it is until the inflater needs input again).
// more reports whether the message goes on after the current piece.
//
// A piece shorter than the rest is only added to it, without decoding: a
// rest that long is the start of a block header, decoded again from its
// start each time, and a peer sending tiny pieces would make that cost
// quadratic. Decoding waits until the rest has doubled since the
// inflater ran out, so a header costs at most about twice its decoding.
func (inf *inflater) give(more bool) {
	if more && inf.restN+len(inf.left) < 2*inf.starved {
		inf.restN += copy(inf.scratch[inf.restN:], inf.left)
		inf.left = nil
		return // still out of input; kept stays set
	}
	inf.kept = false
	if inf.restN == 0 {
		inf.z.Feed(inf.left, more)
		inf.left = nil
		return
	}
	n := inf.restN + copy(inf.scratch[inf.restN:], inf.left)
	inf.left = inf.left[n-inf.restN:]
	inf.restN = 0
	inf.z.Feed(inf.scratch[:n], more || len(inf.left) > 0)
}

// keepRest copies what the inflater, out of input, left undecoded into
// scratch, so that the input it points into may go. It may be called
// again before the next give.
func (inf *inflater) keepRest() error {
	if inf.kept {
		return nil
	}
	rest := inf.z.Rest()
	if len(rest) > len(inf.scratch) {
		return errRestTooLong
	}
	inf.restN = copy(inf.scratch[:], rest)
	inf.starved = inf.restN
	inf.kept = true
	return nil
}

// startInflate starts inflating the message in progress, if it has not.
func (r *reader) startInflate() {
	if r.inf == nil {
		r.inf = r.c.deflate.startStream(r.chunk)
		r.inf.give(!r.last)
	}
}

// readInflated reads decompressed payload into p, inflating the message's
// pieces as it needs them, never more than one byte past the read limit,
// so a decompression bomb costs no memory. The inflater keeps what it
// decodes into p for the back-references that follow.
func (r *reader) readInflated(ctx context.Context, p []byte) (int, error) {
	r.startInflate()
	if !r.inf.ringed && r.partial != nil {
		// partial is the only home of what was inflated in place between
		// calls (an interrupted ReadAppend's, a Poller's loop's).
		r.ringInPlace(*r.partial)
	}
	r.inf.ringed = true
	return r.inflate(ctx, p, -1)
}

// ringInPlace moves the message to reading through Read, whose
// back-references look in the inflater's ring, once: out, all that was
// inflated in place so far, goes there first.
func (r *reader) ringInPlace(out []byte) {
	if !r.inf.ringed {
		r.inf.z.Keep(out)
		r.inf.ringed = true
	}
}

// inflateInPlace inflates into out[o:], where out[:o] is all of the
// message's output so far, which back-references read in place.
func (r *reader) inflateInPlace(ctx context.Context, out []byte, o int) (int, error) {
	r.startInflate()
	return r.inflate(ctx, out, o)
}

// inflate decodes the message's next output: with o < 0 into out through
// Read, which keeps it; otherwise into out[o:] through ReadAppend, out[:o]
// being all of the message's output so far.
func (r *reader) inflate(ctx context.Context, out []byte, o int) (int, error) {
	from := max(o, 0)
	if room := r.dec.InflateRoom(); int64(len(out)-from) > room {
		out = out[: from+int(room) : from+int(room)] // ReadAppend fills the capacity
	}
	for {
		n, err := r.decode(out, o)
		if err == errRetired {
			return 0, r.c.errAfterClose()
		}
		if derr := r.dec.Inflated(out[from : from+n]); derr != nil {
			return 0, r.failDecode(ctx, derr)
		}
		switch {
		case err == io.EOF:
			return r.inflatedEnd(ctx, out[:from+n], n)
		case err == lz.ErrNeedInput && r.inf.pushed:
			return n, err // the loop gives the next piece when it comes
		case err == lz.ErrNeedInput && n == 0:
			if err := r.nextInput(ctx); err != nil {
				return 0, err
			}
			continue
		case err != nil && err != lz.ErrNeedInput:
			return 0, r.failDecode(ctx, r.dec.FailInflate(err.Error()))
		}
		return n, nil
	}
}

// errRetired fails a decode that comes after the connection's end, when
// its history may be gone.
var errRetired = errors.New("websocket: connection ended while inflating")

// decode is one Read (o < 0) or ReadAppend of the inflater, which reads
// the connection's history under takeover, held for the call.
func (r *reader) decode(out []byte, o int) (int, error) {
	d := r.c.deflate
	if d.recvTakeover {
		if !d.hold() {
			return 0, errRetired
		}
		defer d.unhold()
	}
	if o < 0 {
		return r.inf.z.Read(out)
	}
	got, err := r.inf.z.ReadAppend(out[:o])
	return len(got) - o, err
}

// inflatedEnd ends a compressed message whose output ends with n bytes of
// last: last is the output of its final Read, or all of it in place.
func (r *reader) inflatedEnd(ctx context.Context, last []byte, n int) (int, error) {
	if derr := r.dec.InflatedEnd(); derr != nil {
		return 0, r.failDecode(ctx, derr)
	}
	r.c.deflate.inflatedAll(r.inf, last)
	r.endOfMessage()
	if n > 0 {
		return n, nil
	}
	return 0, io.EOF
}

// nextInput gives the inflater, out of input, its next: the rest of the
// current piece, or the next piece, read from the network if need be.
func (r *reader) nextInput(ctx context.Context) error {
	if err := r.inf.keepRest(); err != nil {
		return r.failDecode(ctx, r.dec.FailInflate(err.Error()))
	}
	if len(r.inf.left) == 0 {
		// The chunk is used up: it may go with the read buffer.
		r.chunk = nil
		if err := r.nextChunk(ctx); err != nil {
			return err
		}
		r.inf.left = r.chunk
	}
	r.inf.give(!r.last)
	return nil
}

// inflateArriving inflates payload, the next piece of the compressed
// message in progress on a Poller's loop; last reports that it ends the
// message. The output gathers in partial. It returns the message once its
// last piece is in (partial's storage, which goes back to the pool after
// the call: releasePartial), and nil before.
func (r *reader) inflateArriving(payload []byte, last bool) ([]byte, error) {
	if r.inf == nil {
		r.inf = r.c.deflate.startStream(nil)
		r.inf.pushed = true
	}
	r.inf.left = payload
	for {
		r.inf.give(!last)
		// At the message's end, readInflated lets go of partial: the output
		// is taken out of it for the call.
		out := r.partialBuf()
		r.partial = nil
		msg, err := r.appendInflated(nil, *out, 0)
		*out = msg
		r.partial = out
		switch {
		case err == lz.ErrNeedInput:
		case err != nil || r.inMessage:
			return nil, err
		default:
			return msg, nil
		}
		if err := r.inf.keepRest(); err != nil {
			return nil, r.failDecode(nil, r.dec.FailInflate(err.Error()))
		}
		if len(r.inf.left) == 0 {
			return nil, nil
		}
	}
}
