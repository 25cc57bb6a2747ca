// Package backoff is the one retry delay of asgigram: a capped exponential
// delay with jitter, used by the poller, the application client and the Bot
// API client.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the delay before retry n (0 for the first retry): min
// doubled n times, at most max, then jittered uniformly into [d/2, d] so
// that many clients failing together do not retry together.
func Delay(min, max time.Duration, n int) time.Duration {
	d := max
	if n < 62 {
		if v := min << uint(n); v > 0 && v < max {
			d = v
		}
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Backoff counts the retries of one operation: each Next is the Delay of
// the next retry, Reset starts again from Min after a success.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	d := Delay(b.Min, b.Max, b.n)
	b.n++
	return d
}

// Reset makes the next delay Min's again.
func (b *Backoff) Reset() { b.n = 0 }
