package lxc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules/lxc/fake"
)

// BenchmarkParallel creates n independent containers with a fake pct whose
// create takes createDelay: with w workers the run should take about
// ceil(n/w) x one container's time. Figures: docs/perf/lxc.md.
//
//	go test ./modules/lxc -run '^$' -bench Parallel -benchtime 3x
func BenchmarkParallel(b *testing.B) {
	const createDelay = 200 * time.Millisecond
	for _, tc := range []struct{ n, workers int }{{1, 1}, {8, 1}, {8, 2}, {8, 4}} {
		b.Run(fmt.Sprintf("containers=%d/workers=%d", tc.n, tc.workers), func(b *testing.B) {
			var y strings.Builder
			fmt.Fprintf(&y, "version: 1\nlxc:\n  parallel: %d\n  defaults: {storage: local-zfs, template: \"local:vztmpl/%s\", bridge: vmbr0}\n  containers:\n", tc.workers, fake.DefaultTemplate)
			for i := 0; i < tc.n; i++ {
				fmt.Fprintf(&y, "    \"%d\": {hostname: ct%d, provision: {features: [base]}}\n", 200+i, i)
			}
			s := loadSeed(b, y.String())
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w := newWorld(b)
				w.pve.CreateDelay = createDelay
				// No fsync (as in the fault harness): the figure is about
				// scheduling, not about the shared disk of the build host.
				w.root.SetSync(false)
				// The template is in place: the figure is about containers.
				w.run.Run(context.Background(), host.Cmd{Name: "pveam", Args: []string{"update"}})
				w.run.Run(context.Background(), host.Cmd{Name: "pveam", Args: []string{"download", "local", fake.DefaultTemplate}})
				start := time.Now()
				b.StartTimer()
				if _, err := w.apply(newModule(), s); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total += time.Since(start)
			}
			b.ReportMetric(float64(total)/float64(b.N)/float64(createDelay), "x_create")
		})
	}
}
