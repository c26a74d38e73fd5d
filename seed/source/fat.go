package source

// A small read-only FAT12/16/32 reader. go-diskfs v1.9.4 is not used for FAT
// because it refuses volumes with a single FAT copy (mkfs.vfat -f 1, some
// cameras and firmware tools), its FAT12/16 support is new and write-oriented,
// and a volume from a stranger must never panic the boot: this reader checks
// every number it reads from the disk against the volume's geometry, follows
// cluster chains with a loop bound, and reads only the sectors it needs.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrLFN       = 0x0F
	maxDirEntries = 1 << 16 // a directory bigger than this is treated as corrupt
)

// fatFS is an opened FAT volume.
type fatFS struct {
	r        io.ReaderAt
	off      int64 // volume start on the device
	typ      int   // 12, 16 or 32
	bps      int64 // bytes per sector
	spc      int64 // sectors per cluster
	fatStart int64 // byte offset of the first FAT, from off
	fatBytes int64
	rootOff  int64 // FAT12/16 fixed root directory, byte offset from off
	rootEnts int64
	rootClus uint32 // FAT32 root directory cluster
	dataOff  int64  // byte offset of cluster 2, from off
	clusters uint32 // number of data clusters
	bpbLabel string
	fatCache map[int64][]byte
}

// fatDirent is one directory entry, long name resolved.
type fatDirent struct {
	name    string // long name when present, else the short name
	short   string
	attr    byte
	cluster uint32
	size    uint32
}

func (d fatDirent) isDir() bool { return d.attr&attrDirectory != 0 }

// isFATBootSector is a cheap test used by probing before newFAT.
func isFATBootSector(b []byte) bool {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	if b[0] != 0xEB && b[0] != 0xE9 {
		return false
	}
	bps := binary.LittleEndian.Uint16(b[11:])
	spc := b[13]
	return (bps == 512 || bps == 1024 || bps == 2048 || bps == 4096) &&
		spc != 0 && spc&(spc-1) == 0 &&
		binary.LittleEndian.Uint16(b[14:]) != 0 && b[16] != 0
}

// newFAT parses the boot sector of the volume at off (size bytes long).
func newFAT(r io.ReaderAt, off, size int64) (*fatFS, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("fat: boot sector: %w", err)
	}
	if !isFATBootSector(b) {
		return nil, errors.New("fat: no FAT boot sector")
	}
	le16 := func(i int) int64 { return int64(binary.LittleEndian.Uint16(b[i:])) }
	le32 := func(i int) int64 { return int64(binary.LittleEndian.Uint32(b[i:])) }
	f := &fatFS{r: r, off: off, bps: le16(11), spc: int64(b[13]), fatCache: map[int64][]byte{}}
	reserved, nfats := le16(14), int64(b[16])
	f.rootEnts = le16(17)
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	fatSz := le16(22)
	if fatSz == 0 {
		fatSz = le32(36)
	}
	if fatSz == 0 || total == 0 {
		return nil, errors.New("fat: zero FAT size or sector count")
	}
	rootSecs := (f.rootEnts*32 + f.bps - 1) / f.bps
	dataSec := reserved + nfats*fatSz + rootSecs
	if dataSec >= total {
		return nil, fmt.Errorf("fat: metadata (%d sectors) fills the volume (%d sectors)", dataSec, total)
	}
	if size > 0 && total*f.bps > size {
		return nil, fmt.Errorf("fat: volume claims %d bytes but the device holds %d (truncated image?)", total*f.bps, size)
	}
	clusters := (total - dataSec) / f.spc
	switch {
	case clusters < 4085:
		f.typ = 12
	case clusters < 65525:
		f.typ = 16
	default:
		f.typ = 32
	}
	if clusters > 0x0FFFFFF5 {
		return nil, errors.New("fat: too many clusters")
	}
	f.clusters = uint32(clusters)
	f.fatStart = reserved * f.bps
	f.fatBytes = fatSz * f.bps
	need := (clusters + 2) * int64(f.typ) / 8
	if f.fatBytes < need {
		return nil, fmt.Errorf("fat: FAT of %d bytes too small for %d clusters", f.fatBytes, clusters)
	}
	f.rootOff = (reserved + nfats*fatSz) * f.bps
	f.dataOff = dataSec * f.bps
	labelAt := 43
	if f.typ == 32 {
		if f.rootEnts != 0 {
			return nil, errors.New("fat: FAT32 with a fixed root directory")
		}
		f.rootClus = uint32(le32(44))
		if !f.validCluster(f.rootClus) {
			return nil, fmt.Errorf("fat: bad root cluster %d", f.rootClus)
		}
		labelAt = 71
	} else if f.rootEnts == 0 {
		return nil, errors.New("fat: FAT12/16 without a root directory")
	}
	if b[labelAt-5] == 0x29 { // extended boot signature: label present
		f.bpbLabel = cleanLabel(b[labelAt : labelAt+11])
	}
	return f, nil
}

func (f *fatFS) validCluster(c uint32) bool { return c >= 2 && c < f.clusters+2 }

// next returns the FAT entry of cluster c.
func (f *fatFS) next(c uint32) (uint32, error) {
	var at int64
	switch f.typ {
	case 12:
		at = int64(c) + int64(c)/2
	case 16:
		at = int64(c) * 2
	default:
		at = int64(c) * 4
	}
	// Read through a per-sector cache: FAT12 entries may straddle sectors,
	// so read two bytes from up to two sectors.
	get := func(i int64) (byte, error) {
		sec := i / f.bps
		buf, ok := f.fatCache[sec]
		if !ok {
			buf = make([]byte, f.bps)
			if _, err := f.r.ReadAt(buf, f.off+f.fatStart+sec*f.bps); err != nil {
				return 0, fmt.Errorf("fat: read FAT: %w", err)
			}
			f.fatCache[sec] = buf
		}
		return buf[i%f.bps], nil
	}
	n := 2
	if f.typ == 32 {
		n = 4
	}
	var v uint32
	for k := n - 1; k >= 0; k-- {
		bt, err := get(at + int64(k))
		if err != nil {
			return 0, err
		}
		v = v<<8 | uint32(bt)
	}
	switch f.typ {
	case 12:
		if c%2 == 1 {
			v >>= 4
		}
		v &= 0xFFF
		if v >= 0xFF8 {
			return 0, io.EOF
		}
	case 16:
		if v >= 0xFFF8 {
			return 0, io.EOF
		}
	default:
		v &= 0x0FFFFFFF
		if v >= 0x0FFFFFF8 {
			return 0, io.EOF
		}
	}
	if !f.validCluster(v) {
		return 0, fmt.Errorf("fat: cluster %d links to invalid cluster %d", c, v)
	}
	return v, nil
}

// chain lists the clusters of a chain starting at c, at most limit long.
func (f *fatFS) chain(c uint32, limit int64) ([]uint32, error) {
	var out []uint32
	for {
		if !f.validCluster(c) {
			return nil, fmt.Errorf("fat: invalid cluster %d", c)
		}
		out = append(out, c)
		if int64(len(out)) > limit || len(out) > int(f.clusters) {
			return nil, errors.New("fat: cluster chain loops or is too long")
		}
		n, err := f.next(c)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		c = n
	}
}

func (f *fatFS) clusterBytes() int64 { return f.bps * f.spc }

func (f *fatFS) clusterOff(c uint32) int64 {
	return f.off + f.dataOff + int64(c-2)*f.clusterBytes()
}

// readDirRaw reads the bytes of a directory (cluster 0 = root).
func (f *fatFS) readDirRaw(c uint32) ([]byte, error) {
	if c == 0 && f.typ != 32 {
		b := make([]byte, f.rootEnts*32)
		if _, err := f.r.ReadAt(b, f.off+f.rootOff); err != nil {
			return nil, fmt.Errorf("fat: read root directory: %w", err)
		}
		return b, nil
	}
	if c == 0 {
		c = f.rootClus
	}
	cl, err := f.chain(c, maxDirEntries*32/f.clusterBytes()+1)
	if err != nil {
		return nil, err
	}
	b := make([]byte, int64(len(cl))*f.clusterBytes())
	for i, x := range cl {
		if _, err := f.r.ReadAt(b[int64(i)*f.clusterBytes():int64(i+1)*f.clusterBytes()], f.clusterOff(x)); err != nil {
			return nil, fmt.Errorf("fat: read directory: %w", err)
		}
	}
	return b, nil
}

// readDir parses a directory. It returns the volume label entry too.
func (f *fatFS) readDir(c uint32) ([]fatDirent, string, error) {
	raw, err := f.readDirRaw(c)
	if err != nil {
		return nil, "", err
	}
	var out []fatDirent
	var label string
	var lfn []uint16
	lfnSum, lfnNext := -1, 0
	for i := 0; i+32 <= len(raw); i += 32 {
		e := raw[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 {
			lfnSum = -1
			continue
		}
		attr := e[11]
		if attr&0x3F == attrLFN {
			seq := int(e[0] & 0x1F)
			if e[0]&0x40 != 0 {
				lfn = make([]uint16, seq*13)
				lfnSum, lfnNext = int(e[13]), seq
			}
			if lfnSum != int(e[13]) || seq != lfnNext || seq == 0 || seq*13 > len(lfn) {
				lfnSum = -1
				continue
			}
			part := lfn[(seq-1)*13 : seq*13]
			for k, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part[k] = binary.LittleEndian.Uint16(e[o:])
			}
			lfnNext--
			continue
		}
		short := shortName(e)
		if attr&attrVolumeID != 0 {
			if attr&attrDirectory == 0 && label == "" {
				label = cleanLabel(e[0:11])
			}
			lfnSum = -1
			continue
		}
		d := fatDirent{name: short, short: short, attr: attr, size: binary.LittleEndian.Uint32(e[28:])}
		d.cluster = uint32(binary.LittleEndian.Uint16(e[26:]))
		if f.typ == 32 {
			d.cluster |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		if lfnSum >= 0 && lfnNext == 0 && lfnSum == int(lfnChecksum(e[0:11])) {
			n := len(lfn)
			for k, u := range lfn {
				if u == 0 {
					n = k
					break
				}
			}
			d.name = string(utf16.Decode(lfn[:n]))
		}
		lfnSum = -1
		if short != "." && short != ".." {
			out = append(out, d)
		}
	}
	return out, label, nil
}

func lfnChecksum(name []byte) byte {
	var s byte
	for _, c := range name {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// shortName renders an 8.3 entry, applying the NT lower-case flags.
func shortName(e []byte) string {
	raw := append([]byte(nil), e[0:11]...)
	if raw[0] == 0x05 {
		raw[0] = 0xE5
	}
	base := strings.TrimRight(string(raw[0:8]), " ")
	ext := strings.TrimRight(string(raw[8:11]), " ")
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// cleanLabel trims the space and NUL padding of a label.
func cleanLabel(b []byte) string {
	return strings.TrimRight(string(b), " \x00")
}

// label is the volume label: the root directory's label entry (what
// Windows and mlabel write), else the boot sector's.
func (f *fatFS) label() string {
	_, l, err := f.readDir(0)
	if err == nil && l != "" {
		return l
	}
	if f.bpbLabel == "NO NAME" {
		return ""
	}
	return f.bpbLabel
}

// lookup finds a slash-separated path, case-insensitively like FAT itself.
func (f *fatFS) lookup(p string) (fatDirent, error) {
	cur := fatDirent{attr: attrDirectory} // root
	for _, el := range strings.Split(p, "/") {
		if !cur.isDir() {
			return fatDirent{}, fmt.Errorf("%s: not a directory", p)
		}
		ents, _, err := f.readDir(cur.cluster)
		if err != nil {
			return fatDirent{}, err
		}
		found := false
		for _, d := range ents {
			if strings.EqualFold(d.name, el) || strings.EqualFold(d.short, el) {
				cur, found = d, true
				break
			}
		}
		if !found {
			return fatDirent{}, fmt.Errorf("%s: %w", p, errNotExist)
		}
	}
	return cur, nil
}

// Open opens a regular file on the volume.
func (f *fatFS) Open(p string) (io.ReadCloser, error) {
	d, err := f.lookup(p)
	if err != nil {
		return nil, err
	}
	if d.isDir() {
		return nil, fmt.Errorf("%s: is a directory", p)
	}
	var cl []uint32
	if d.size > 0 {
		need := (int64(d.size) + f.clusterBytes() - 1) / f.clusterBytes()
		cl, err = f.chain(d.cluster, need)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if int64(len(cl)) < need {
			return nil, fmt.Errorf("%s: cluster chain shorter than the file size", p)
		}
	}
	return &fatFile{f: f, clusters: cl, size: int64(d.size)}, nil
}

func (f *fatFS) Close() error { return nil }

// fatFile reads a file cluster by cluster.
type fatFile struct {
	f        *fatFS
	clusters []uint32
	size     int64
	pos      int64
}

func (r *fatFile) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	cb := r.f.clusterBytes()
	idx, in := r.pos/cb, r.pos%cb
	// Read across consecutive clusters in one go: files Phoenix writes,
	// and most others, are contiguous.
	run := int64(1)
	for idx+run < int64(len(r.clusters)) && r.clusters[idx+run] == r.clusters[idx]+uint32(run) && run*cb < int64(len(p)) {
		run++
	}
	n := int64(len(p))
	if rem := run*cb - in; n > rem {
		n = rem
	}
	if rem := r.size - r.pos; n > rem {
		n = rem
	}
	k, err := r.f.r.ReadAt(p[:n], r.f.clusterOff(r.clusters[idx])+in)
	r.pos += int64(k)
	if err == io.EOF && int64(k) == n {
		err = nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (r *fatFile) Close() error { return nil }
