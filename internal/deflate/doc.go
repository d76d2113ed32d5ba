// Package deflate is the raw DEFLATE (RFC 1951) compressor and decoder of
// the permessage-deflate extension (RFC 7692), built for many connections
// that each compress now and then:
//
//   - A Compressor is large (two hash tables, input window and match buffer,
//     about 500 KB) and is meant to be pooled: a connection takes one only
//     while a message moves.
//   - What a connection keeps between messages under context takeover is
//     a History: the last 2^windowBits bytes of plaintext and nothing else.
//     Reset loads it back into a Compressor as the dictionary.
//   - Back-references never reach further than 2^windowBits bytes, for
//     every window size from 8 to 15 bits, so a peer that limited the
//     window (server_max_window_bits, client_max_window_bits) still gets
//     real matches.
//
// The matcher is greedy, with two hash tables of the last position of each
// 8-byte and 5-byte prefix (the longer one tried first), carries a repeat
// on at the same distance past the 258-byte match limit, and skips ahead
// faster in data that does not match (the speed class of compress/flate's
// BestSpeed; see primeMin for what a history costs). Each block is written with
// dynamic Huffman codes, the fixed codes or stored, whichever is smallest.
// Every message ends with a sync flush (an empty stored block, whose
// 00 00 ff ff tail RFC 7692 strips).
//
// An Inflater decodes one message whose compressed payload is whole in
// memory (Reset), tail stripped: input that ends between blocks, or inside
// that tail, ends the message. Or it is fed the payload in pieces as they
// arrive (ResetStream, Feed): it then stops where a piece ends, even
// inside a symbol or a block header, returns ErrNeedInput and decodes
// that unit again once the next piece is joined to what it left (Rest,
// under 300 bytes). It is pooled like a Compressor (about 45 KB)
// and never allocates. Read writes straight into the caller's buffer and
// never more than it holds, so a caller bounds what a decompression bomb
// costs; back-references behind the current Read reach the dictionary
// (read in place, not copied) and the 32 KiB of earlier output the
// Inflater keeps, which AppendHistory adds to a History at the end. The
// decoder loads input 8 bytes at a time into a 64-bit bit buffer and
// decodes with a table per code indexed by the next 10 bits (8 for
// distances) and subtables for longer codes, copying matches 8 bytes at
// a time, while at least 8 bytes of input remain; the last bytes are
// decoded a symbol at a time.
package deflate
