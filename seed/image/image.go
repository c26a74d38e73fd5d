package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Kind is the image layout.
type Kind int

const (
	ISO Kind = iota + 1 // ISO9660 with Joliet and Rock Ridge
	FAT                 // a bare FAT filesystem ("superfloppy")
	USB                 // a partition table with one FAT partition
)

// Label is the label of every seed image (source.Label).
const Label = "PHOENIX"

// partStart is where the USB image's partition begins: 1 MiB, the usual
// alignment.
const partStart = 2048

// Options describe an image to build.
type Options struct {
	Kind Kind
	// Size in bytes of a FAT or USB image; 0 sizes it to the content.
	Size int64
	// FATType forces FAT12, 16 or 32 (0: by size).
	FATType int
	// GPT makes the USB image's partition table GPT instead of MBR.
	GPT bool
	// Label defaults to PHOENIX.
	Label string
}

// Build writes an image holding files to out (replaced if it exists).
func Build(out string, o Options, files []File) error {
	if o.Label == "" {
		o.Label = Label
	}
	switch o.Kind {
	case ISO:
		return buildISO(out, o, files)
	case FAT, USB:
		return buildFAT(out, o, files)
	}
	return fmt.Errorf("image: unknown kind %d", o.Kind)
}

// AutoSize is the FAT image size for files: content rounded to 4 KiB
// clusters, a quarter spare, at least 1 MiB, in whole MiB.
func AutoSize(files []File) (int64, error) {
	var need int64 = 64 << 10
	dirs := map[string]bool{}
	for _, f := range files {
		sz, err := f.size()
		if err != nil {
			return 0, fmt.Errorf("image: %w", err)
		}
		need += (sz+4095)/4096*4096 + 4096
		dirs[path.Dir(f.Path)] = true
	}
	need += int64(len(dirs)) * 4096
	need += need/4 + 256<<10
	const mib = 1 << 20
	return (need + mib - 1) / mib * mib, nil
}

func buildFAT(out string, o Options, files []File) (err error) {
	size := o.Size
	if size == 0 {
		if size, err = AutoSize(files); err != nil {
			return err
		}
		if o.FATType == 32 && size < 34<<20 {
			size = 34 << 20 // FAT32 needs 65525 clusters
		}
	}
	fsOff, fsSize := int64(0), size
	if o.Kind == USB {
		// 1 MiB before the partition; 1 MiB after it holds the GPT backup.
		size += 2 << 20
		fsOff, fsSize = partStart*sectorSize, size-(2<<20)
	}
	return writeAtomic(out, func(tmp *os.File) error {
		if err := tmp.Truncate(size); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		fo := FATOptions{Label: o.Label, Type: o.FATType}
		if o.Kind == USB {
			fo.HiddenSectors = partStart
		}
		if err := WriteFAT(tmp, fsOff, fsSize, fo, files); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if o.Kind == USB {
			l, _ := layout((fsSize/sectorSize)-(fsSize/sectorSize)%sectorsPerTrack, o.FATType)
			if err := writeTable(tmp, size, fsSize, l.typ, o.GPT, o.Label); err != nil {
				return fmt.Errorf("image: partition table: %w", err)
			}
		}
		return nil
	})
}

// writeAtomic writes out through a temp file beside it: fill writes the
// image, then the file is synced and renamed over out. On any error the
// temp file is removed and out is left as it was.
func writeAtomic(out string, fill func(tmp *os.File) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	// 0600 whatever the umask: the image carries the seed (password
	// hashes) and any password files next to it.
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// writeTable writes an MBR (one partition of the FAT type's LBA id) or a
// GPT (go-diskfs; one Microsoft basic data partition) for the partition at
// 1 MiB.
func writeTable(f *os.File, size, partSize int64, fatType int, useGPT bool, label string) error {
	sectors := partSize / sectorSize
	sectors -= sectors % sectorsPerTrack
	if useGPT {
		t := &gpt.Table{
			LogicalSectorSize:  sectorSize,
			PhysicalSectorSize: sectorSize,
			ProtectiveMBR:      true,
			Partitions: []*gpt.Partition{{
				Index: 1,
				Start: partStart,
				End:   uint64(partStart + sectors - 1),
				Type:  gpt.MicrosoftBasicData,
				Name:  label,
			}},
		}
		w, err := file.New(f, false).Writable()
		if err != nil {
			return err
		}
		return t.Write(w, size)
	}
	mbr := make([]byte, sectorSize)
	// Disk signature: derived from the size so builds are reproducible.
	binary.LittleEndian.PutUint32(mbr[440:], uint32(size>>9)^0x50484e58)
	p := mbr[446:462]
	p[0] = 0x80 // active: some BIOSes only boot/list sticks with an active partition
	chs(p[1:4], partStart)
	p[4] = map[int]byte{12: 0x01, 16: 0x0E, 32: 0x0C}[fatType]
	chs(p[5:8], partStart+sectors-1)
	binary.LittleEndian.PutUint32(p[8:], partStart)
	binary.LittleEndian.PutUint32(p[12:], uint32(sectors))
	mbr[510], mbr[511] = 0x55, 0xAA
	_, err := f.WriteAt(mbr, 0)
	return err
}

// chs encodes an LBA in the legacy cylinder/head/sector form (capped).
func chs(b []byte, lba int64) {
	c := lba / (heads * sectorsPerTrack)
	h := (lba / sectorsPerTrack) % heads
	s := lba%sectorsPerTrack + 1
	if c > 1023 {
		c, h, s = 1023, heads-1, sectorsPerTrack
	}
	b[0] = byte(h)
	b[1] = byte(s) | byte(c>>8)<<6
	b[2] = byte(c)
}

// buildISO stages the files in a workspace and lets go-diskfs write an
// ISO9660 with Joliet and Rock Ridge (its ISO writer is sound).
func buildISO(out string, o Options, files []File) (err error) {
	ws, err := os.MkdirTemp("", "phoenix-iso")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer os.RemoveAll(ws)
	for _, f := range files {
		p := path.Clean(f.Path)
		if p == "." || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("image: bad path %q", f.Path)
		}
		dst := filepath.Join(ws, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if err := stage(f, dst); err != nil {
			return fmt.Errorf("image: %s: %w", f.Path, err)
		}
	}
	return writeAtomic(out, func(tmp *os.File) error {
		fsys, err := iso9660.Create(file.New(tmp, false), 0, 0, 2048, ws)
		if err != nil {
			return fmt.Errorf("image: iso9660: %w", err)
		}
		if err := fsys.Finalize(iso9660.FinalizeOptions{RockRidge: true, Joliet: true, VolumeIdentifier: o.Label}); err != nil {
			return fmt.Errorf("image: iso9660: %w", err)
		}
		if err := padISO(tmp); err != nil {
			return fmt.Errorf("image: iso9660: %w", err)
		}
		return nil
	})
}

// stage copies a file into the ISO workspace (a copy, not a link: the
// workspace is go-diskfs's to touch).
func stage(f File, dst string) error {
	r, err := f.open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// padISO extends the image to the size its volume descriptor claims:
// go-diskfs v1.9.4 leaves the last block short, and readers that check the
// size (ours does, to catch truncated images) would refuse it.
func padISO(f *os.File) error {
	pvd := make([]byte, 2048)
	if _, err := f.ReadAt(pvd, 16*2048); err != nil {
		return err
	}
	want := int64(binary.LittleEndian.Uint32(pvd[80:])) * int64(binary.LittleEndian.Uint16(pvd[128:]))
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < want {
		return f.Truncate(want)
	}
	return nil
}
