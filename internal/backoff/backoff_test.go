package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDelayDoublesUpToMaxWithJitter(t *testing.T) {
	const min, max = 100 * time.Millisecond, time.Second
	for _, c := range []struct {
		n    int
		full time.Duration // the delay before jitter
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{4, time.Second}, // 1.6 s, capped
		{63, time.Second},
		{1000, time.Second}, // no overflow into a negative shift
	} {
		for range 200 {
			d := Delay(min, max, c.n)
			assert.GreaterOrEqual(t, d, c.full/2, "n=%d", c.n)
			assert.LessOrEqual(t, d, c.full, "n=%d", c.n)
		}
	}
}

func TestDelayJitters(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[Delay(time.Second, time.Minute, 0)] = true
	}
	assert.Greater(t, len(seen), 1, "every delay was the same")
}

func TestBackoffNextAndReset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 4 * time.Second}
	for _, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		d := b.Next()
		assert.True(t, d >= full/2 && d <= full, "got %s, want within [%s, %s]", d, full/2, full)
	}
	b.Reset()
	d := b.Next()
	assert.True(t, d >= time.Second/2 && d <= time.Second, "after Reset: %s", d)
}

func TestZeroMax(t *testing.T) {
	assert.Equal(t, time.Duration(0), Delay(0, 0, 5))
}
