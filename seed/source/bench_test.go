package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/phoenix-pve/phoenix/seed/image"
)

// BenchmarkLocate16 finds the seed among 16 removable devices: 4 without a
// filesystem, 4 FAT and 4 ISO volumes with other labels, 3 partitioned
// sticks with other labels, and the PHOENIX stick (GPT + FAT32) last in
// device order, so every candidate is probed. Target: < 50 ms per Locate.
func BenchmarkLocate16(b *testing.B) {
	dir := b.TempDir()
	files := []image.File{{Path: "seed.yaml", Data: []byte(tinySeed)}, {Path: "scripts/a.sh", Data: []byte("x")}}
	mk := func(name string, o image.Options) string {
		p := filepath.Join(dir, name)
		if err := image.Build(p, o, files); err != nil {
			b.Fatal(err)
		}
		return p
	}
	var imgs []string
	for i := 0; i < 4; i++ {
		p := filepath.Join(dir, fmt.Sprintf("blank%d", i))
		os.WriteFile(p, make([]byte, 4<<20), 0o644)
		imgs = append(imgs, p)
	}
	for i := 0; i < 4; i++ {
		imgs = append(imgs, mk(fmt.Sprintf("fat%d", i), image.Options{Kind: image.FAT, Label: "DATA", FATType: []int{12, 16, 32, 16}[i], Size: []int64{4 << 20, 20 << 20, 40 << 20, 8 << 20}[i]}))
	}
	for i := 0; i < 4; i++ {
		imgs = append(imgs, mk(fmt.Sprintf("iso%d", i), image.Options{Kind: image.ISO, Label: "OTHER"}))
	}
	for i := 0; i < 3; i++ {
		imgs = append(imgs, mk(fmt.Sprintf("usb%d", i), image.Options{Kind: image.USB, Label: "STICK", GPT: i%2 == 0}))
	}
	imgs = append(imgs, mk("phoenix", image.Options{Kind: image.USB, GPT: true, FATType: 32}))
	var devs []fakeBlock
	for i, img := range imgs {
		devs = append(devs, fakeBlock{name: fmt.Sprintf("sd%c", 'a'+i), removable: true, image: img})
	}
	r := newRoot(b, devs...)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := Locate(ctx, Options{Root: r, Wait: -1})
		if err != nil {
			b.Fatal(err)
		}
		if f.Origin != "volume /dev/sdp1 (vfat, label PHOENIX)" {
			b.Fatalf("found %s", f.Origin)
		}
	}
}
