//go:build unix && !linux

package websocket

// trySendv writes bufs one after the other without waiting.
func (w *writer) trySendv(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := w.trySend(b)
		total += n
		if err != nil || n < len(b) {
			return total, err
		}
	}
	return total, nil
}
