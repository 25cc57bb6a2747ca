package httpapp

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// deadlines bounds every request with http.ResponseController, per route
// rather than server-wide, so that a long upload or download is bounded by
// its rate and not cut off: the body must arrive within bodyTimeout, and
// the answer be read within bodyTimeout after handlerTime (the most a
// handler waits, send_timeout). /send's uploads and /file's downloads
// replace these with rate-based deadlines.
func deadlines(bodyTimeout, handlerTime time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			now := time.Now()
			_ = rc.SetReadDeadline(now.Add(bodyTimeout))
			_ = rc.SetWriteDeadline(now.Add(2*bodyTimeout + handlerTime))
			next.ServeHTTP(w, r)
		})
	}
}

// answerWithin gives the answer bodyTimeout from now to be read (0: no
// deadline).
func answerWithin(w http.ResponseWriter, bodyTimeout time.Duration) {
	if bodyTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bodyTimeout))
	}
}

// isTimeout reports a read that ended at its deadline.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// bodyTimedOut answers a request whose body did not arrive in time and
// makes the server close the connection.
func bodyTimedOut(w http.ResponseWriter, what string) {
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestTimeout, apiError{Description: what})
}

// rateDeadline keeps moving a connection's read or write deadline so that
// it passes only when the transfer falls behind grace + bytes/rate since
// start: a client must keep up an average of rate bytes per second after a
// first grace period, and one that stalls is cut off within grace.
type rateDeadline struct {
	set   func(time.Time) error
	start time.Time
	grace time.Duration
	rate  int64
	n     int64
}

func (d *rateDeadline) advance(n int) {
	d.n += int64(n)
	ahead := time.Duration(float64(d.n) / float64(d.rate) * float64(time.Second))
	_ = d.set(d.start.Add(d.grace + ahead))
}

// rateReader is a request body read under a rateDeadline.
type rateReader struct {
	io.ReadCloser
	d rateDeadline
}

// newRateReader returns body read under a rateDeadline; body itself when
// grace or rate is 0 (no bound).
func newRateReader(w http.ResponseWriter, body io.ReadCloser, grace time.Duration, rate int64) io.ReadCloser {
	if grace <= 0 || rate <= 0 {
		return body
	}
	rc := http.NewResponseController(w)
	r := &rateReader{ReadCloser: body, d: rateDeadline{set: rc.SetReadDeadline, start: time.Now(), grace: grace, rate: rate}}
	r.d.advance(0)
	return r
}

func (r *rateReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.d.advance(n)
	return n, err
}

// rateWriter is a response written under a rateDeadline.
type rateWriter struct {
	w io.Writer
	d rateDeadline
}

// newRateWriter returns w written under a rateDeadline; w itself when
// grace or rate is 0 (no bound).
func newRateWriter(w http.ResponseWriter, grace time.Duration, rate int64) io.Writer {
	if grace <= 0 || rate <= 0 {
		return w
	}
	rc := http.NewResponseController(w)
	rw := &rateWriter{w: w, d: rateDeadline{set: rc.SetWriteDeadline, start: time.Now(), grace: grace, rate: rate}}
	rw.d.advance(0)
	return rw
}

func (w *rateWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.d.advance(n)
	return n, err
}
