package adapter

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSweepingDropsIdleScopes: while sweeping, a scope idle longer than
// ScopeIdleTimeout is dropped within a tenth of it; once stopped, nothing
// is swept any more.
func TestSweepingDropsIdleScopes(t *testing.T) { synctest.Test(t, testSweepingDropsIdleScopes) }

func testSweepingDropsIdleScopes(t *testing.T) {
	a := New(Options{ScopeIdleTimeout: 100 * time.Second})
	stop := a.startSweeping()
	a.reg.Release(a.reg.Acquire(ScopeRef{Key: "chat:1"}))
	time.Sleep(100 * time.Second)
	synctest.Wait()
	assert.Equal(t, 1, a.reg.Len(), "not idle longer than the timeout yet")
	time.Sleep(10*time.Second + time.Millisecond)
	synctest.Wait()
	assert.Zero(t, a.reg.Len(), "dropped by the next sweep")

	a.reg.Release(a.reg.Acquire(ScopeRef{Key: "chat:2"}))
	time.Sleep(250 * time.Second)
	synctest.Wait()
	assert.Zero(t, a.reg.Len(), "swept again and again")

	a.reg.Release(a.reg.Acquire(ScopeRef{Key: "chat:3"}))
	stop()
	time.Sleep(time.Hour)
	synctest.Wait()
	assert.Equal(t, 1, a.reg.Len(), "no sweep after stop")
}
