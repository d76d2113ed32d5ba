package bpool

import "testing"

func TestReadBuffers(t *testing.T) {
	b := GetRead()
	if len(*b) != ReadSize {
		t.Fatalf("read buffer of %d bytes, want %d", len(*b), ReadSize)
	}
	PutRead(b)
}

func TestWritePoolsPerSize(t *testing.T) {
	for _, size := range []int{256, 4096, 65536} {
		p := Writes(size)
		if Writes(size) != p {
			t.Fatalf("size %d: two pools", size)
		}
		b := p.Get().(*[]byte)
		if len(*b) != size {
			t.Fatalf("size %d: buffer of %d bytes", size, len(*b))
		}
		p.Put(b)
	}
	if Writes(256) == Writes(512) {
		t.Fatal("sizes 256 and 512 share a pool")
	}
}

func TestVarBuffersComeBackEmpty(t *testing.T) {
	b := make([]byte, 100, 1000)
	PutVar(&b)
	// A sync.Pool may drop what it holds at any time, so only what comes
	// back is checked, never that something does.
	if got := GetVar(); got != nil && len(*got) != 0 {
		t.Fatalf("pooled buffer of length %d, want 0", len(*got))
	}
}
