package adapter

// FakeSpool is the in-memory Spool of the delivery tests, for the tests of
// package adapter_test.
type FakeSpool = fakeSpool

// NewFakeSpool returns an empty FakeSpool.
func NewFakeSpool() *FakeSpool { return newFakeSpool() }
