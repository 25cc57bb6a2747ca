// Package httpbody reads HTTP bodies into one buffer of the announced size.
// io.ReadAll starts at 512 bytes and grows, allocating about twice the body;
// a body with a Content-Length needs one allocation.
package httpbody

import (
	"io"
)

// sizedMax is the largest Content-Length trusted for a buffer up front;
// larger bodies grow as io.ReadAll grows them.
const sizedMax = 8 << 20

// Read reads r to its end, at most limit bytes when limit > 0 (a longer
// body is cut at limit+1 bytes, so that the caller can tell it was too long,
// as io.ReadAll(io.LimitReader(r, limit+1)) does). contentLength is the
// body's announced length, -1 when unknown.
func Read(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	if contentLength < 0 || contentLength > sizedMax || (limit > 0 && contentLength > limit) {
		return io.ReadAll(r)
	}
	// One byte more than announced, to see the end of the body: reading it
	// to EOF lets net/http reuse the connection.
	b := make([]byte, contentLength+1)
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err == io.EOF { // io.ReadAll tests for io.EOF itself, not a wrapped one
			return b[:n:n], nil
		}
		if err != nil {
			return b[:n:n], err
		}
	}
	// Longer than announced: read the rest as io.ReadAll would.
	rest, err := io.ReadAll(r)
	return append(b, rest...), err
}
