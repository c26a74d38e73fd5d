package seed

import (
	"bytes"
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

// fleetSeedText is the example seed with n host overlays: each sets its
// own hostname and management address.
func fleetSeedText(b testing.TB, n int) []byte {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(data)
	buf.WriteString("hosts:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, "  - name: pve-%04d\n    match: {serial: SN%06d}\n    overlay:\n      host: {hostname: pve-%04d}\n      network:\n        management: {address: 192.168.%d.%d/16}\n",
			i, i, i, 100+i/250, 1+i%250)
	}
	return buf.Bytes()
}

// BenchmarkHosts1000 is issue 17's budget: a seed with 1,000 host overlays
// validated in full (the base and all 1,000 effective seeds) and one
// effective seed rendered, within 1 s per op. It reports the same run's
// cost of validating the single example seed and the ratio between them.
func BenchmarkHosts1000(b *testing.B) {
	fleet := fleetSeedText(b, 1000)
	single, err := os.ReadFile(examplePath)
	if err != nil {
		b.Fatal(err)
	}
	var fleetTime, singleTime time.Duration
	ops := 0
	for b.Loop() {
		t0 := time.Now()
		s, err := Load("fleet.yaml", fleet)
		if err != nil {
			b.Fatal(err)
		}
		if _, why, err := s.Render(Identity{Serial: "SN000500"}); err != nil || why != "hosts[500] (pve-0500) matches" {
			b.Fatalf("render: %q %v", why, err)
		}
		fleetTime += time.Since(t0)
		// The single seed, in the same run: 10 loads after a collection,
		// so the fleet's garbage is not charged to it.
		runtime.GC()
		t1 := time.Now()
		for range 10 {
			if _, err := Load("seed.yaml", single); err != nil {
				b.Fatal(err)
			}
		}
		singleTime += time.Since(t1) / 10
		ops++
	}
	perFleet := fleetTime / time.Duration(ops)
	perSingle := singleTime / time.Duration(ops)
	b.ReportMetric(float64(perFleet.Microseconds())/1000, "ms/fleet")
	b.ReportMetric(float64(perSingle.Microseconds())/1000, "ms/single")
	b.ReportMetric(float64(perFleet)/float64(perSingle), "fleet/single")
	if perFleet > time.Second {
		b.Errorf("1,000 overlays validated and one rendered in %s: over the 1 s budget", perFleet)
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
