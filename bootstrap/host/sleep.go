package host

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, whichever comes first, and returns
// ctx.Err() in the latter case, so a cancelled run never sits out a backoff.
// Everything that retries or polls uses it, or a test's replacement: the
// modules (apt, network, cluster, lxc), the URL seed source and the report.
// It lives here, the one package both modules and seed import.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
