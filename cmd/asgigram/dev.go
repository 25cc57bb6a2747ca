package main

import (
	"context"
	"fmt"
)

// runDev runs "asgigram dev [APP_URL]": the adapter against a built-in fake
// Telegram. (Being written.)
func (m *Main) runDev(ctx context.Context, args []string) int {
	_ = ctx
	_ = args
	fmt.Fprintln(m.Stderr, "asgigram: dev mode is not available yet")
	return ExitConfig
}
