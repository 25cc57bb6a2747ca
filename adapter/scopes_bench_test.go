package adapter

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkIdleScopes measures the memory of 1,000,000 idle scopes: each
// comes from a real message update mapped by Mapper (so the scope object is
// the one production keeps), is acquired and released once, and stays idle.
// It reports the live heap per scope (after a GC) and the memory the runtime
// took from the OS for them, then the live heap per scope after the
// scopes were swept as idle (their tokens are still remembered as expired),
// and after the expired tokens were forgotten too.
//
//	go test -run '^$' -bench IdleScopes -benchtime 1x ./adapter
func BenchmarkIdleScopes(b *testing.B) {
	const n = 1_000_000
	m := Mapper{BotUser: json.RawMessage(`{"id":123456,"is_bot":true,"first_name":"Bench","username":"bench_bot"}`), BotID: 123456}
	for b.Loop() {
		c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		base := heapLive()
		sys0 := memSys()
		reg := NewRegistry(n, 15*time.Minute)
		reg.now = c.now
		for i := range n {
			id := int64(1_000_000_000 + i)
			raw := fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"User","last_name":"Number %d","username":"user_%d","language_code":"en"},"chat":{"id":%d,"first_name":"User","last_name":"Number %d","username":"user_%d","type":"private"},"date":1781340000,"text":"hello"}}`,
				i+1, i+1, id, i, i, id, i, i)
			ev, err := m.Map(Update{ID: int64(i + 1), Raw: raw})
			if err != nil {
				b.Fatal(err)
			}
			s := reg.Acquire(ev.Scope)
			reg.Release(s)
		}
		if got := reg.Len(); got != n {
			b.Fatalf("live scopes = %d, want %d", got, n)
		}
		live := heapLive()
		perScope := float64(live-base) / n
		b.ReportMetric(perScope, "B/scope")
		b.ReportMetric(float64(live-base)/(1<<20), "MiB/1M-scopes")
		// What the Go runtime took from the OS meanwhile (heap growth
		// between GCs included): close to the process's RSS growth.
		b.ReportMetric(float64(memSys()-sys0)/(1<<20), "MiB-sys/1M-scopes")

		c.add(16 * time.Minute)
		if got := reg.Sweep(); got != n {
			b.Fatalf("swept %d scopes, want %d", got, n)
		}
		b.ReportMetric(float64(heapLive()-base)/n, "B/scope-swept")
		c.add(16 * time.Minute)
		reg.Sweep()
		b.ReportMetric(float64(int64(heapLive())-int64(base))/n, "B/scope-forgotten")
		runtime.KeepAlive(reg)
	}
}

// memSys returns the memory the Go runtime obtained from the OS, minus what
// it returned.
func memSys() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys - ms.HeapReleased
}

// heapLive returns the live heap after a full GC.
func heapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
