package seed

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkValidateExample is the whole boot-time cost of the seed: parse,
// strict decode and every semantic rule on the example host.
func BenchmarkValidateExample(b *testing.B) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("seed.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// bigSeed is a valid seed of about size bytes: many containers with long
// descriptions (the bulk of a big real seed), plus the example's sections.
func bigSeed(tb testing.TB, size int) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nlxc:\n  defaults:\n    storage: local-lvm\n    template: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n  containers:\n")
	desc := strings.Repeat("Long description line of a container, as admins write them. ", 24)
	for id := 100; b.Len() < size-4096; id++ {
		fmt.Fprintf(&b, "    %d:\n      hostname: ct%d\n      memory: 2048\n      cores: 2\n      tags: [web, prod]\n      description: %q\n", id, id, desc)
	}
	if b.Len() > size {
		tb.Fatalf("seed is %d bytes, over %d", b.Len(), size)
	}
	return []byte(b.String())
}

// BenchmarkValidate4MiB: a seed at the 4 MiB limit validates in under a
// second and under 100 MB (docs/perf/seed.md; the budget of issue 16).
// Run: go test ./seed -run '^$' -bench Validate4MiB -benchmem
func BenchmarkValidate4MiB(b *testing.B) {
	data := bigSeed(b, MaxSize)
	if _, err := Load("seed.yaml", data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Load("seed.yaml", data); err != nil {
			b.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > peak {
			peak = d
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-alloc/op")
	if per := b.Elapsed() / time.Duration(b.N); per > time.Second {
		b.Errorf("%s per 4 MiB seed: over the 1 s budget", per)
	}
	if peak > 100<<20 {
		b.Errorf("%d MiB allocated per 4 MiB seed: over the 100 MB budget", peak>>20)
	}
}
