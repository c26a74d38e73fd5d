package seed

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZMutate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(seedsDir, "*", "*.*"))
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 3000; iter++ {
		b, _ := os.ReadFile(files[r.Intn(len(files))])
		for k := 0; k < 1+r.Intn(4); k++ {
			if len(b) == 0 {
				break
			}
			i := r.Intn(len(b))
			switch r.Intn(3) {
			case 0:
				b[i] = byte(r.Intn(256))
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				j := r.Intn(len(b))
				b = append(b[:i], append([]byte{b[j]}, b[i:]...)...)
			}
		}
		done := make(chan bool)
		name := "x.yaml"
		if r.Intn(2) == 0 {
			name = "x.json"
		}
		go func() { Load(name, b); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			os.WriteFile("/tmp/mut/hang.yaml", b, 0o644)
			t.Fatalf("hang at iter %d", iter)
		}
	}
}
