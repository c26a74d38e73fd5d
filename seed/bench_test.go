package seed

import (
	"os"
	"testing"
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
