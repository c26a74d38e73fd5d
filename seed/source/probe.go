package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

var errNotExist = fs.ErrNotExist

// catchPanics turns a panic while parsing a volume into an error, so a
// stranger's stick cannot crash the boot. The fuzz test turns it off to
// find the bugs instead of hiding them.
var catchPanics = true

const (
	isoPVDOffset = 16 * 2048 // the primary volume descriptor, whatever the device's sector size
	fsISO        = "iso9660"
	fsFAT        = "vfat"
)

// volume is one filesystem found on a device or image.
type volume struct {
	Device string // display name: /dev/sdb1, disk.img partition 2
	real   string // real path to open
	Offset int64
	Size   int64
	FSType string
	Label  string
}

func (v volume) String() string {
	if v.Label == "" {
		return fmt.Sprintf("volume %s (%s, no label)", v.Device, v.FSType)
	}
	return fmt.Sprintf("volume %s (%s, label %s)", v.Device, v.FSType, v.Label)
}

// volumeFS is an opened volume's files.
type volumeFS interface {
	Open(p string) (io.ReadCloser, error)
}

// partName names partition n of device dev the way the kernel does.
func partName(dev string, n int) string {
	if strings.HasPrefix(dev, "/dev/") {
		if last := dev[len(dev)-1]; last >= '0' && last <= '9' {
			return fmt.Sprintf("%sp%d", dev, n)
		}
		return fmt.Sprintf("%s%d", dev, n)
	}
	return fmt.Sprintf("%s partition %d", dev, n)
}

// probeDevice lists the filesystems on a device or image file: one at the
// start (an ISO, possibly hybrid, or a superfloppy FAT), else one per
// partition of an MBR or GPT table. It never panics on garbage.
func probeDevice(display, real string) (vols []volume, err error) {
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, errors.New("no medium (size 0)")
	}
	return probeReader(display, real, f, size)
}

// probeReader is probeDevice on an open reader (fuzzed directly).
func probeReader(display, real string, f io.ReaderAt, size int64) (vols []volume, err error) {
	defer func() {
		if !catchPanics {
			return
		}
		if r := recover(); r != nil {
			vols, err = nil, fmt.Errorf("unreadable (parser panic: %v)", r)
		}
	}()
	v, ok, err := probeAt(f, 0, size)
	if err != nil {
		return nil, err
	}
	if ok {
		v.Device, v.real = display, real
		vols = append(vols, v)
		if v.FSType != fsISO {
			return vols, nil
		}
		// A hybrid ISO may carry more filesystems in partitions appended
		// after the ISO (xorriso -append_partition): look at those too.
	}
	table, parts, err := readTable(f, size)
	if err != nil {
		if len(vols) > 0 {
			return vols, nil
		}
		if errors.Is(err, errNoTable) {
			return nil, errors.New("no ISO9660 or FAT filesystem and no partition table")
		}
		return nil, fmt.Errorf("no ISO9660 or FAT filesystem; %w", err)
	}
	var problems []string
	for _, p := range parts {
		start, psize := p.start, p.size
		if psize <= 0 || start < 0 || start >= size || (len(vols) > 0 && start < vols[0].Offset+isoPVDOffset+2048) {
			continue
		}
		if start+psize > size {
			psize = size - start
		}
		v, ok, err := probeAt(f, start, psize)
		name := partName(display, p.index)
		if err != nil {
			problems = append(problems, name+": "+err.Error())
			continue
		}
		if ok {
			v.Device, v.real = name, real
			vols = append(vols, v)
		}
	}
	if len(vols) == 0 {
		if len(problems) > 0 {
			return nil, errors.New(strings.Join(problems, "; "))
		}
		return nil, fmt.Errorf("%s partition table without an ISO9660 or FAT filesystem", table)
	}
	return vols, nil
}

// probeAt recognises an ISO9660 or FAT filesystem at off and reads its label.
func probeAt(f io.ReaderAt, off, size int64) (volume, bool, error) {
	v := volume{Offset: off, Size: size}
	if size >= isoPVDOffset+2048 {
		pvd := make([]byte, 2048)
		if _, err := f.ReadAt(pvd, off+isoPVDOffset); err == nil && pvd[0] == 1 && bytes.Equal(pvd[1:6], []byte("CD001")) {
			v.FSType, v.Label = fsISO, cleanLabel(pvd[40:72])
			blocks := int64(binary.LittleEndian.Uint32(pvd[80:]))
			bsize := int64(binary.LittleEndian.Uint16(pvd[128:]))
			if bsize != 2048 {
				return v, false, fmt.Errorf("iso9660: logical block size %d, want 2048", bsize)
			}
			// Tolerate a short last block (some writers do not pad it).
			if blocks*bsize > size+bsize {
				return v, false, fmt.Errorf("iso9660: volume claims %d bytes but the device holds %d (truncated image?)", blocks*bsize, size)
			}
			return v, true, nil
		}
	}
	bs := make([]byte, 512)
	if n, _ := f.ReadAt(bs, off); n == 512 && isFATBootSector(bs) {
		fat, err := newFAT(f, off, size)
		if err != nil {
			return v, false, err
		}
		v.FSType, v.Label = fsFAT, fat.label()
		return v, true, nil
	}
	return v, false, nil
}

// mount opens a probed volume read-only. Close the returned closer when done.
func (v volume) mount() (fsys volumeFS, closer io.Closer, err error) {
	f, err := os.Open(v.real)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if catchPanics {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: unreadable (parser panic: %v)", v.Device, r)
			}
		}
		if err != nil {
			f.Close()
		}
	}()
	switch v.FSType {
	case fsFAT:
		fat, err := newFAT(f, v.Offset, v.Size)
		if err != nil {
			return nil, nil, err
		}
		return fat, f, nil
	case fsISO:
		// Always 2048-byte blocks: an ISO dd'ed to a 512-byte-sector stick or
		// loop device still has 2048-byte logical blocks.
		iso, err := newISO(f, v.Offset, v.Size)
		if err != nil {
			return nil, nil, err
		}
		return iso, f, nil
	}
	return nil, nil, fmt.Errorf("unknown filesystem %q", v.FSType)
}

// maxISODir bounds the directories and path tables read from a disc: a
// crafted disc would claim gigabytes.
const maxISODir = 4 << 20

// checkISODescriptors vets the sizes in the primary and supplementary volume
// descriptors before go-diskfs trusts them.
func checkISODescriptors(r io.ReaderAt, off, size int64) error {
	vd := make([]byte, 2048)
	for i := int64(0); i < 32; i++ {
		if _, err := r.ReadAt(vd, off+isoPVDOffset+i*2048); err != nil {
			return fmt.Errorf("iso9660: volume descriptor %d: %w", i, err)
		}
		if !bytes.Equal(vd[1:6], []byte("CD001")) {
			return fmt.Errorf("iso9660: volume descriptor %d: bad signature", i)
		}
		switch vd[0] {
		case 255:
			return nil
		case 1, 2:
			bs := int64(binary.LittleEndian.Uint16(vd[128:]))
			ptSize := int64(binary.LittleEndian.Uint32(vd[132:]))
			ptLoc := int64(binary.LittleEndian.Uint32(vd[140:])) * bs
			rootLoc := int64(binary.LittleEndian.Uint32(vd[156+2:])) * bs
			rootSize := int64(binary.LittleEndian.Uint32(vd[156+10:]))
			if bs != 2048 || ptSize > maxISODir || ptLoc+ptSize > size || rootSize > maxISODir || rootSize == 0 || rootLoc+rootSize > size {
				return fmt.Errorf("iso9660: volume descriptor %d: implausible path table or root directory (corrupt image?)", i)
			}
		}
	}
	return errors.New("iso9660: no volume descriptor set terminator")
}

// isoNameMatch compares an on-disc name with a wanted one.
func isoNameMatch(disc, want string) bool {
	disc = strings.TrimSuffix(strings.SplitN(disc, ";", 2)[0], ".")
	if strings.EqualFold(disc, want) {
		return true
	}
	return strings.EqualFold(disc, iso83(want))
}

// iso83 is the ISO9660 level-1 form of a name: 8.3, d-characters only.
func iso83(name string) string {
	base, ext := name, ""
	if i := strings.LastIndex(name, "."); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == n {
				break
			}
			if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	if ext == "" {
		return clean(base, 8)
	}
	return clean(base, 8) + "." + clean(ext, 3)
}

// readVolumeFile reads a small file (a seed, a signature) from a volume.
func readVolumeFile(fsys volumeFS, p string) ([]byte, error) {
	rc, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxSeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(data) > MaxSeedSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, MaxSeedSize)
	}
	return data, nil
}

// volumeBundle reads referenced files from a volume, reopening the device for
// each file so a Found holds no open descriptor.
type volumeBundle struct {
	v   volume
	dir string // seed's directory on the volume ("" or "phoenix")
}

func (b volumeBundle) String() string { return b.v.String() }

func (b volumeBundle) Open(rel string) (io.ReadCloser, error) {
	c, err := CleanRel(rel)
	if err != nil {
		return nil, err
	}
	if b.dir != "" && b.dir != "." {
		c = b.dir + "/" + c
	}
	fsys, closer, err := b.v.mount()
	if err != nil {
		return nil, err
	}
	rc, err := fsys.Open(c)
	if err != nil {
		closer.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, closeBoth{rc, closer}}, nil
}

type closeBoth [2]io.Closer

func (c closeBoth) Close() error {
	err := c[0].Close()
	if err2 := c[1].Close(); err == nil {
		err = err2
	}
	return err
}
