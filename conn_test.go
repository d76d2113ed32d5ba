package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// pair returns a connected client and server, closed at the end of the test.
func pair(t *testing.T, aopts *AcceptOptions, dopts *DialOptions) (client, server *Conn) {
	t.Helper()
	checkLeaks(t)
	srvCh := make(chan *Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, aopts)
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		srvCh <- c
	}))
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, _, err := Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), dopts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	sc := <-srvCh
	t.Cleanup(func() {
		cc.CloseNow()
		sc.CloseNow()
	})
	return cc, sc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEchoBothAPIs(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 4000, 65535, 65536, 300000} {
		client, server := pair(t, nil, nil)
		ctx := testCtx(t)
		msg := bytes.Repeat([]byte("abcdefgh"), size/8+1)[:size]
		errc := make(chan error, 1)
		go func() {
			typ, p, err := server.Read(ctx)
			if err == nil {
				var w io.WriteCloser
				w, err = server.Writer(ctx, typ)
				if err == nil {
					_, err = w.Write(p)
					if cerr := w.Close(); err == nil {
						err = cerr
					}
				}
			}
			errc <- err
		}()
		if err := client.Write(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		typ, r, err := client.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if typ != MessageText || !bytes.Equal(got, msg) {
			t.Fatalf("size %d: got type %v, %d bytes", size, typ, len(got))
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _, err := server.Read(ctx)
			errc <- err
		}()
		if err := client.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errc; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("server read after close: %v", err)
		}
	}
}

func TestCloseFromServerEchoedByClient(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := client.Read(ctx)
		readErr <- err
	}()
	if err := server.Close(4000, "custom"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := <-readErr
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "custom" {
		t.Fatalf("client got %v", err)
	}
}

func TestPingWithoutReader(t *testing.T) {
	client, server := pair(t, nil, nil)
	ctx := testCtx(t)
	go func() {
		for {
			if _, _, err := server.Read(ctx); err != nil {
				return
			}
		}
	}()
	rtt, err := client.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rtt <= 0 {
		t.Fatalf("rtt %v", rtt)
	}
}
