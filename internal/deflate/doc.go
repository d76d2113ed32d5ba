// Package deflate is the raw DEFLATE (RFC 1951) compressor of the
// permessage-deflate extension (RFC 7692), built for many connections that
// each compress now and then:
//
//   - A Compressor is large (two hash tables, input window and token buffer,
//     about 490 KB) and is meant to be pooled: a connection takes one only
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
package deflate
