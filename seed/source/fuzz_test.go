package source

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/seed/image"
)

// fuzzSeeds are small valid images: FAT12 bare, FAT12 in an MBR partition,
// and an ISO, made by seed/image (our FAT writer, go-diskfs for the ISO).
func fuzzSeeds(f *testing.F) {
	dir := f.TempDir()
	files := []image.File{{Path: "seed.yaml", Data: []byte(tinySeed)}, {Path: "scripts/a.sh", Data: []byte("x")}}
	for i, o := range []image.Options{{Kind: image.FAT, Size: 96 << 10}, {Kind: image.ISO}} {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := image.Build(p, o, files); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b)
		if o.Kind == image.FAT {
			// The same FAT inside an MBR partition at sector 1.
			mbr := make([]byte, 512)
			copy(mbr[446:], []byte{0, 0, 0, 0, 0x01, 0, 0, 0, 1, 0, 0, 0, byte(len(b) / 512), byte(len(b) / 512 >> 8), 0, 0})
			mbr[510], mbr[511] = 0x55, 0xAA
			f.Add(append(mbr, b...))
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 4096))
}

// FuzzProbe feeds random bytes to volume probing and, when a volume is
// recognised, to mounting it and reading seed.yaml and its bundle: it must
// neither panic nor hang, only return errors.
func FuzzProbe(f *testing.F) {
	fuzzSeeds(f)
	catchPanics = false
	defer func() { catchPanics = true }()
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		vols, err := probeReader("fuzz", "", bytes.NewReader(data), int64(len(data)))
		if err != nil || len(vols) == 0 {
			return
		}
		p, err := os.CreateTemp(tmp, "img")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p.Name())
		p.Write(data)
		p.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, v := range vols {
				v.real = p.Name()
				fsys, closer, err := v.mount()
				if err != nil {
					continue
				}
				for _, name := range []string{"seed.yaml", "scripts/a.sh", "phoenix/seed.yaml"} {
					if rc, err := fsys.Open(name); err == nil {
						io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
						rc.Close()
					}
				}
				closer.Close()
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("reading a %d-byte volume did not finish", len(data))
		}
	})
}
