package deflate

import "math/bits"

// The length and distance alphabets of RFC 1951, section 3.2.5.

const (
	endOfBlock  = 256
	numLitLen   = 286 // literals, end of block and 29 length codes
	numDist     = 30
	numCodeLen  = 19
	maxLitBits  = 15
	maxCLBits   = 7
	minMatch    = 4 // the matcher's minimum; DEFLATE's is 3
	maxMatch    = 258
	maxDistance = 1 << 15
)

// lengthBase and lengthExtra describe length codes 257 to 285: the
// smallest length of each code minus 3, and its number of extra bits.
var lengthBase = [29]uint16{
	0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28,
	32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255,
}

var lengthExtra = [29]uint8{
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
}

// distBase and distExtra describe distance codes 0 to 29: the smallest
// distance of each code minus 1, and its number of extra bits.
var distBase = [30]uint16{
	0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
	256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576,
}

var distExtra = [30]uint8{
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
}

// codeLenOrder is the order in which the code length code's lengths are
// sent.
var codeLenOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

var (
	lengthCode [256]uint8 // by length-3: the length code's index (0..28)

	// lengthInfo is by length-3 what the writer needs of it: the length
	// code's index, its number of extra bits <<8 and their value <<16.
	lengthInfo [256]uint32

	fixedLit  huffCode // the fixed literal/length code (lengths for 288 symbols)
	fixedDist huffCode // the fixed distance code
)

func init() {
	for c := range lengthBase {
		lo := int(lengthBase[c])
		hi := lo + 1<<lengthExtra[c]
		for l := lo; l < hi && l < 256; l++ {
			lengthCode[l] = uint8(c)
			lengthInfo[l] = uint32(c) | uint32(lengthExtra[c])<<8 | uint32(l-lo)<<16
		}
	}
	for i := range 288 {
		switch {
		case i < 144:
			fixedLit.len[i] = 8
		case i < 256:
			fixedLit.len[i] = 9
		case i < 280:
			fixedLit.len[i] = 7
		default:
			fixedLit.len[i] = 8
		}
	}
	fixedLit.assign(288)
	for i := range 30 {
		fixedDist.len[i] = 5
	}
	fixedDist.assign(30)
}

// distCode returns the distance code of a distance minus 1 (0..32767):
// from 4 on, two codes per power of two, told apart by the bit below the
// top one. It is computed, not looked up in one of two tables, because
// which table would be a branch the CPU cannot predict.
func distCode(d uint32) uint32 {
	if d < 4 {
		return d
	}
	extra := uint32(bits.Len32(d)) - 2
	return 2*extra + 2 + (d>>extra)&1
}
