package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
)

const (
	sectorSize = 512
	// Geometry written into boot sectors; sizes are kept multiples of a
	// track so mtools does not warn.
	sectorsPerTrack = 32
	heads           = 64
)

// File is one file to put on an image, at Path (slash-separated, relative).
// Its content is Data, or the file at Source when Data is nil.
type File struct {
	Path   string
	Data   []byte
	Source string
}

func (f File) size() (int64, error) {
	if f.Data != nil || f.Source == "" {
		return int64(len(f.Data)), nil
	}
	fi, err := os.Stat(f.Source)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", f.Source)
	}
	return fi.Size(), nil
}

func (f File) open() (io.ReadCloser, error) {
	if f.Data != nil || f.Source == "" {
		return io.NopCloser(strings.NewReader(string(f.Data))), nil
	}
	return os.Open(f.Source)
}

// FATOptions shape a FAT filesystem.
type FATOptions struct {
	Label string // at most 11 characters; upper-cased
	// Type is 12, 16 or 32; 0 picks by size (FAT12 up to 16 MiB, FAT16 up
	// to 512 MiB, FAT32 above), like mkfs.vfat.
	Type int
	// HiddenSectors is the partition's first sector (0 for a bare image).
	HiddenSectors uint32
	// VolumeID is the serial number; 0 derives one from the label.
	VolumeID uint32
}

// fixedTime is the timestamp of every entry, so builds are reproducible.
var fixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// fatLayout is the geometry of one FAT filesystem.
type fatLayout struct {
	typ      int
	total    int64 // sectors
	spc      int64
	reserved int64
	nfats    int64
	rootEnts int64
	fatSz    int64 // sectors per FAT
	clusters int64
}

func (l fatLayout) rootSecs() int64  { return l.rootEnts * 32 / sectorSize }
func (l fatLayout) dataStart() int64 { return l.reserved + l.nfats*l.fatSz + l.rootSecs() }
func (l fatLayout) clusterBytes() int64 {
	return l.spc * sectorSize
}

// Cluster-count limits of each FAT type (Microsoft's FAT specification).
func typeFits(typ int, clusters int64) bool {
	switch typ {
	case 12:
		return clusters >= 1 && clusters < 4085
	case 16:
		return clusters >= 4085 && clusters < 65525
	default:
		return clusters >= 65525 && clusters < 0x0FFFFFF5
	}
}

// layout picks the smallest cluster that puts the cluster count in the
// range of the type.
func layout(totalSectors int64, typ int) (fatLayout, error) {
	if typ == 0 {
		switch {
		case totalSectors*sectorSize <= 16<<20:
			typ = 12
		case totalSectors*sectorSize <= 512<<20:
			typ = 16
		default:
			typ = 32
		}
	}
	if typ != 12 && typ != 16 && typ != 32 {
		return fatLayout{}, fmt.Errorf("fat: type %d: want 12, 16 or 32", typ)
	}
	for spc := int64(1); spc <= 64; spc *= 2 {
		l := fatLayout{typ: typ, total: totalSectors, spc: spc, reserved: 1, nfats: 2, rootEnts: 512}
		if typ == 32 {
			l.reserved, l.rootEnts = 32, 0
		}
		// The FAT size depends on the cluster count, which depends on the
		// FAT size: iterate to the fixed point (it converges in a few steps).
		l.fatSz = 1
		for i := 0; i < 64; i++ {
			data := l.total - l.reserved - l.nfats*l.fatSz - l.rootSecs()
			if data <= 0 {
				break
			}
			l.clusters = data / spc
			need := ((l.clusters+2)*int64(typ)/8 + sectorSize) / sectorSize
			if need <= l.fatSz {
				break
			}
			l.fatSz = need
		}
		l.clusters = (l.total - l.dataStart()) / spc
		if l.total > l.dataStart() && typeFits(typ, l.clusters) {
			return l, nil
		}
	}
	return fatLayout{}, fmt.Errorf("fat: %d bytes cannot hold a valid FAT%d (FAT32 needs at least 33 MiB, FAT12 at most 128 MiB)", totalSectors*sectorSize, typ)
}

// node is a directory or file in the tree being written.
type node struct {
	name     string
	short    [11]byte
	lfn      bool
	dir      bool
	file     File
	size     int64
	children []*node
	first    uint32 // first cluster (0 = none)
	nclus    int64
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// buildTree arranges files into directories.
func buildTree(files []File) (*node, error) {
	root := &node{dir: true}
	for _, f := range files {
		p := path.Clean(f.Path)
		if p == "." || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") || p == ".." {
			return nil, fmt.Errorf("fat: bad path %q", f.Path)
		}
		els := strings.Split(p, "/")
		cur := root
		for i, el := range els {
			c := cur.child(el)
			last := i == len(els)-1
			if c == nil {
				c = &node{name: el, dir: !last}
				cur.children = append(cur.children, c)
			} else if last || !c.dir {
				return nil, fmt.Errorf("fat: %s: duplicate path", f.Path)
			}
			if last {
				c.file = f
				sz, err := f.size()
				if err != nil {
					return nil, err
				}
				if sz > 0xFFFFFFFF {
					return nil, fmt.Errorf("fat: %s: larger than 4 GiB", f.Path)
				}
				c.size = sz
			}
			cur = c
		}
	}
	var walk func(*node) error
	walk = func(n *node) error {
		sort.Slice(n.children, func(i, j int) bool { return n.children[i].name < n.children[j].name })
		used := map[[11]byte]bool{}
		for _, c := range n.children {
			if err := c.makeShort(used); err != nil {
				return err
			}
			if c.dir {
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return root, walk(root)
}

const shortChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()-@^_`{}~"

// makeShort picks the 8.3 name; a long-name entry is added whenever the
// short name does not spell the name exactly.
func (n *node) makeShort(used map[[11]byte]bool) error {
	if len(n.name) > 255 || n.name == "" || strings.ContainsAny(n.name, "\"*/:<>?\\|\x00") {
		return fmt.Errorf("fat: name %q not allowed", n.name)
	}
	base, ext := n.name, ""
	if i := strings.LastIndex(n.name, "."); i > 0 {
		base, ext = n.name[:i], n.name[i+1:]
	}
	clean := func(s string) (string, bool) {
		var b strings.Builder
		exact := true
		for _, r := range s {
			switch {
			case r >= 'a' && r <= 'z':
				b.WriteRune(r - 32)
				exact = false
			case r < 128 && strings.ContainsRune(shortChars, r):
				b.WriteRune(r)
			case r == ' ' || r == '.':
				exact = false
			default:
				b.WriteByte('_')
				exact = false
			}
		}
		return b.String(), exact
	}
	b, okB := clean(base)
	e, okE := clean(ext)
	exact := okB && okE && len(b) >= 1 && len(b) <= 8 && len(e) <= 3 && strings.Count(n.name, ".") <= 1
	var s [11]byte
	fill := func(b, e string) {
		copy(s[:], "           ")
		copy(s[0:8], b)
		copy(s[8:11], e)
	}
	if len(e) > 3 {
		e = e[:3]
	}
	if b == "" {
		b = "_"
	}
	if exact {
		fill(b, e)
		if !used[s] {
			used[s] = true
			n.short = s
			return nil
		}
	}
	for k := 1; k < 1000000; k++ {
		tail := fmt.Sprintf("~%d", k)
		bb := b
		if len(bb)+len(tail) > 8 {
			bb = bb[:8-len(tail)]
		}
		fill(bb+tail, e)
		if !used[s] {
			used[s] = true
			n.short, n.lfn = s, true
			return nil
		}
	}
	return errors.New("fat: too many similar names")
}

func (n *node) entryCount() int64 {
	if !n.lfn {
		return 1
	}
	return 1 + int64((len(utf16.Encode([]rune(n.name)))+12)/13)
}

// dirEntries is the number of 32-byte entries a directory needs.
func (n *node) dirEntries(isRoot bool) int64 {
	c := int64(2) // "." and ".."
	if isRoot {
		c = 1 // the volume label
	}
	for _, ch := range n.children {
		c += ch.entryCount()
	}
	return c
}

// WriteFAT writes a FAT filesystem of size bytes at offset off of w.
func WriteFAT(w io.WriterAt, off, size int64, o FATOptions, files []File) error {
	label, err := fatLabel(o.Label)
	if err != nil {
		return err
	}
	total := size / sectorSize
	total -= total % sectorsPerTrack
	l, err := layout(total, o.Type)
	if err != nil {
		return err
	}
	root, err := buildTree(files)
	if err != nil {
		return err
	}
	// Allocate clusters: the FAT32 root first (cluster 2), then directories
	// and files depth first, each contiguous.
	next := uint32(2)
	alloc := func(n *node, bytes int64) {
		n.nclus = (bytes + l.clusterBytes() - 1) / l.clusterBytes()
		if n.nclus > 0 {
			n.first = next
			next += uint32(n.nclus)
		}
	}
	if l.typ == 32 {
		alloc(root, max(root.dirEntries(true)*32, 1))
	} else if root.dirEntries(true) > l.rootEnts {
		return fmt.Errorf("fat: %d entries in the root directory, at most %d", root.dirEntries(true), l.rootEnts)
	}
	var walk func(*node)
	walk = func(n *node) {
		for _, c := range n.children {
			if c.dir {
				alloc(c, c.dirEntries(false)*32)
				walk(c)
			} else {
				alloc(c, c.size)
			}
		}
	}
	walk(root)
	used := int64(next - 2)
	if used > l.clusters {
		return fmt.Errorf("fat: content needs %d clusters of %d bytes, the filesystem has %d: make the image bigger", used, l.clusterBytes(), l.clusters)
	}
	volID := o.VolumeID
	if volID == 0 {
		for _, c := range label {
			volID = volID*31 + uint32(c)
		}
		volID ^= uint32(l.total)
	}

	wr := func(sector int64, b []byte) error {
		_, err := w.WriteAt(b, off+sector*sectorSize)
		return err
	}
	// Boot sector (and FAT32 FSInfo and backups).
	bs := bootSector(l, label, volID, o.HiddenSectors)
	if err := wr(0, bs); err != nil {
		return err
	}
	if l.typ == 32 {
		fsi := make([]byte, sectorSize)
		binary.LittleEndian.PutUint32(fsi[0:], 0x41615252)
		binary.LittleEndian.PutUint32(fsi[484:], 0x61417272)
		binary.LittleEndian.PutUint32(fsi[488:], uint32(l.clusters-used))
		binary.LittleEndian.PutUint32(fsi[492:], next)
		binary.LittleEndian.PutUint32(fsi[508:], 0xAA550000)
		for _, s := range []int64{1, 7} {
			if err := wr(s, fsi); err != nil {
				return err
			}
		}
		if err := wr(6, bs); err != nil {
			return err
		}
	}
	// FATs.
	fat := make([]byte, l.fatSz*sectorSize)
	set := func(c uint32, v uint32) {
		switch l.typ {
		case 12:
			i := int(c) + int(c)/2
			if c%2 == 0 {
				fat[i] = byte(v)
				fat[i+1] = fat[i+1]&0xF0 | byte(v>>8)&0x0F
			} else {
				fat[i] = fat[i]&0x0F | byte(v<<4)
				fat[i+1] = byte(v >> 4)
			}
		case 16:
			binary.LittleEndian.PutUint16(fat[2*c:], uint16(v))
		default:
			binary.LittleEndian.PutUint32(fat[4*c:], v)
		}
	}
	eoc := map[int]uint32{12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}[l.typ]
	set(0, eoc&^0xFF|0xF8)
	set(1, eoc)
	chain := func(n *node) {
		for i := int64(0); i < n.nclus; i++ {
			c := n.first + uint32(i)
			if i == n.nclus-1 {
				set(c, eoc)
			} else {
				set(c, c+1)
			}
		}
	}
	var all func(*node)
	all = func(n *node) {
		chain(n)
		for _, c := range n.children {
			all(c)
		}
	}
	all(root)
	for i := int64(0); i < l.nfats; i++ {
		if err := wr(l.reserved+i*l.fatSz, fat); err != nil {
			return err
		}
	}
	// Directories and files.
	clusterSector := func(c uint32) int64 { return l.dataStart() + int64(c-2)*l.spc }
	var write func(n *node, parent uint32, isRoot bool) error
	write = func(n *node, parent uint32, isRoot bool) error {
		var d []byte
		if isRoot {
			d = append(d, rawEntry(label, attrVolume, 0, 0)...)
		} else {
			d = append(d, rawEntry(dotName("."), attrDir, n.first, 0)...)
			d = append(d, rawEntry(dotName(".."), attrDir, parent, 0)...)
		}
		for _, c := range n.children {
			d = append(d, c.entries()...)
		}
		if isRoot && l.typ != 32 {
			if err := wr(l.reserved+l.nfats*l.fatSz, d); err != nil {
				return err
			}
		} else if err := wr(clusterSector(n.first), d); err != nil {
			return err
		}
		self := n.first
		if isRoot {
			self = 0 // ".." entries pointing at the root hold 0
		}
		for _, c := range n.children {
			if c.dir {
				if err := write(c, self, false); err != nil {
					return err
				}
				continue
			}
			if c.nclus == 0 {
				continue
			}
			if err := copyFile(c.file, w, off+clusterSector(c.first)*sectorSize, c.size); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(root, 0, true); err != nil {
		return err
	}
	// Make sure the image is as long as the filesystem says.
	_, err = w.WriteAt([]byte{0}, off+l.total*sectorSize-1)
	return err
}

func copyFile(f File, w io.WriterAt, at, size int64) error {
	r, err := f.open()
	if err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	defer r.Close()
	n, err := io.Copy(io.NewOffsetWriter(w, at), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("fat: %s: %w", f.Path, err)
	}
	if n != size {
		return fmt.Errorf("fat: %s changed size while being copied", f.Path)
	}
	return nil
}

const (
	attrDir    = 0x10
	attrVolume = 0x08
	attrArch   = 0x20
)

func dotName(s string) [11]byte {
	var b [11]byte
	copy(b[:], "           ")
	copy(b[:], s)
	return b
}

// rawEntry is one 8.3 directory entry.
func rawEntry(name [11]byte, attr byte, cluster uint32, size uint32) []byte {
	e := make([]byte, 32)
	copy(e, name[:])
	e[11] = attr
	t := fixedTime
	date := uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm := uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	if attr != attrVolume {
		binary.LittleEndian.PutUint16(e[14:], tm)
		binary.LittleEndian.PutUint16(e[16:], date)
		binary.LittleEndian.PutUint16(e[18:], date)
	}
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
	binary.LittleEndian.PutUint16(e[22:], tm)
	binary.LittleEndian.PutUint16(e[24:], date)
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

// entries are the long-name entries (if any) and the 8.3 entry of n.
func (n *node) entries() []byte {
	var out []byte
	if n.lfn {
		var sum byte
		for _, c := range n.short {
			sum = (sum>>1 | sum<<7) + c
		}
		u := utf16.Encode([]rune(n.name))
		count := (len(u) + 12) / 13
		padded := make([]uint16, count*13)
		for i := range padded {
			switch {
			case i < len(u):
				padded[i] = u[i]
			case i == len(u):
				padded[i] = 0
			default:
				padded[i] = 0xFFFF
			}
		}
		for seq := count; seq >= 1; seq-- {
			e := make([]byte, 32)
			e[0] = byte(seq)
			if seq == count {
				e[0] |= 0x40
			}
			e[11], e[13] = 0x0F, sum
			part := padded[(seq-1)*13 : seq*13]
			for k, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				binary.LittleEndian.PutUint16(e[o:], part[k])
			}
			out = append(out, e...)
		}
	}
	attr := byte(attrArch)
	size := uint32(n.size)
	if n.dir {
		attr, size = attrDir, 0
	}
	return append(out, rawEntry(n.short, attr, n.first, size)...)
}

func fatLabel(s string) ([11]byte, error) {
	var b [11]byte
	s = strings.ToUpper(s)
	if s == "" || len(s) > 11 {
		return b, fmt.Errorf("fat: label %q: want 1 to 11 characters", s)
	}
	for _, r := range s {
		if r != ' ' && (r >= 128 || !strings.ContainsRune(shortChars, r)) {
			return b, fmt.Errorf("fat: label %q: character %q not allowed", s, r)
		}
	}
	copy(b[:], "           ")
	copy(b[:], s)
	return b, nil
}

func bootSector(l fatLayout, label [11]byte, volID, hidden uint32) []byte {
	b := make([]byte, sectorSize)
	copy(b[0:], []byte{0xEB, 0x3C, 0x90})
	if l.typ == 32 {
		b[1] = 0x58
	}
	copy(b[3:11], "PHOENIX ")
	binary.LittleEndian.PutUint16(b[11:], sectorSize)
	b[13] = byte(l.spc)
	binary.LittleEndian.PutUint16(b[14:], uint16(l.reserved))
	b[16] = byte(l.nfats)
	binary.LittleEndian.PutUint16(b[17:], uint16(l.rootEnts))
	if l.total < 65536 && l.typ != 32 {
		binary.LittleEndian.PutUint16(b[19:], uint16(l.total))
	} else {
		binary.LittleEndian.PutUint32(b[32:], uint32(l.total))
	}
	b[21] = 0xF8
	binary.LittleEndian.PutUint16(b[24:], sectorsPerTrack)
	binary.LittleEndian.PutUint16(b[26:], heads)
	binary.LittleEndian.PutUint32(b[28:], hidden)
	ext := 36
	if l.typ == 32 {
		binary.LittleEndian.PutUint32(b[36:], uint32(l.fatSz))
		binary.LittleEndian.PutUint32(b[44:], 2) // root cluster
		binary.LittleEndian.PutUint16(b[48:], 1) // FSInfo sector
		binary.LittleEndian.PutUint16(b[50:], 6) // backup boot sector
		ext = 64
	} else {
		binary.LittleEndian.PutUint16(b[22:], uint16(l.fatSz))
	}
	b[ext] = 0x80   // drive number
	b[ext+2] = 0x29 // extended boot signature: the next three fields are valid
	binary.LittleEndian.PutUint32(b[ext+3:], volID)
	copy(b[ext+7:ext+18], label[:])
	copy(b[ext+18:ext+26], fmt.Sprintf("FAT%-5d", l.typ))
	// Not bootable: the boot code prints nothing and halts (int 18h: try the next device).
	code := ext + 26
	copy(b[code:], []byte{0xCD, 0x18, 0xEB, 0xFE})
	b[510], b[511] = 0x55, 0xAA
	return b
}
