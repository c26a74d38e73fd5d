package source

// A small read-only ISO9660 reader: plain, Joliet and Rock Ridge names,
// bounded everywhere. go-diskfs v1.9.4's reader is not used on volumes: it
// allocates whatever sizes the disc claims and follows Rock Ridge
// continuation areas without a bound, so a crafted disc made it hang and
// eat memory under FuzzProbe; a stranger's stick must never stall the boot.
// (Seed ISOs are still written with go-diskfs, whose writer is sound.)

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	isoBlock   = 2048
	maxCEHops  = 16 // Rock Ridge continuation areas followed per record
	maxCESize  = isoBlock
	isoFlagDir = 0x02
	isoFlagMul = 0x80 // multi-extent: a file over 4 GiB, not supported
)

type isoFS struct {
	r      io.ReaderAt
	off    int64 // volume start on the device
	size   int64
	root   isoEnt
	joliet bool
	rr     bool
	skip   int // SUSP bytes to skip at the start of each system use area
}

type isoEnt struct {
	name    string
	dir     bool
	symlink bool
	multi   bool
	loc     int64 // byte offset from the volume start
	size    int64
}

// newISO reads the volume descriptors and picks the richest name set: Rock
// Ridge, else Joliet, else plain ISO9660 names.
func newISO(r io.ReaderAt, off, size int64) (*isoFS, error) {
	if err := checkISODescriptors(r, off, size); err != nil {
		return nil, err
	}
	f := &isoFS{r: r, off: off, size: size}
	var pvdRoot, jolietRoot *isoEnt
	vd := make([]byte, isoBlock)
	for i := int64(0); i < 32; i++ {
		if _, err := r.ReadAt(vd, off+isoPVDOffset+i*isoBlock); err != nil {
			return nil, fmt.Errorf("iso9660: %w", err)
		}
		switch vd[0] {
		case 1:
			e := f.record(vd[156:190])
			pvdRoot = &e
		case 2:
			esc := vd[88:91]
			if esc[0] == '%' && esc[1] == '/' && (esc[2] == '@' || esc[2] == 'C' || esc[2] == 'E') {
				e := f.record(vd[156:190])
				jolietRoot = &e
			}
		}
		if vd[0] == 255 {
			break
		}
	}
	if pvdRoot == nil {
		return nil, errors.New("iso9660: no primary volume descriptor")
	}
	pvdRoot.dir = true
	f.root = *pvdRoot
	// Rock Ridge: the root's "." record starts its system use area with SP.
	if raw, err := f.readDirBytes(f.root); err == nil && len(raw) > 34 && int(raw[0]) <= len(raw) {
		rec := raw[:raw[0]]
		su := sysUse(rec)
		if len(su) >= 7 && su[0] == 'S' && su[1] == 'P' && su[4] == 0xBE && su[5] == 0xEF {
			f.rr, f.skip = true, int(su[6])
		}
	}
	if !f.rr && jolietRoot != nil {
		jolietRoot.dir = true
		f.root, f.joliet = *jolietRoot, true
	}
	return f, nil
}

// record decodes the fixed part of a directory record.
func (f *isoFS) record(b []byte) isoEnt {
	return isoEnt{
		loc:   int64(binary.LittleEndian.Uint32(b[2:])) * isoBlock,
		size:  int64(binary.LittleEndian.Uint32(b[10:])),
		dir:   b[25]&isoFlagDir != 0,
		multi: b[25]&isoFlagMul != 0,
	}
}

// sysUse is the system use area of a directory record.
func sysUse(rec []byte) []byte {
	if len(rec) < 34 {
		return nil
	}
	n := int(rec[32])
	start := 33 + n
	if n%2 == 0 {
		start++ // padding byte after an even-length name
	}
	if start > len(rec) {
		return nil
	}
	return rec[start:]
}

func (f *isoFS) readDirBytes(d isoEnt) ([]byte, error) {
	if d.size > maxISODir || d.loc < 0 || d.loc+d.size > f.size {
		return nil, fmt.Errorf("iso9660: directory of %d bytes at %d is out of bounds (corrupt image?)", d.size, d.loc)
	}
	b := make([]byte, d.size)
	if _, err := f.r.ReadAt(b, f.off+d.loc); err != nil {
		return nil, fmt.Errorf("iso9660: read directory: %w", err)
	}
	return b, nil
}

func (f *isoFS) readDir(d isoEnt) ([]isoEnt, error) {
	raw, err := f.readDirBytes(d)
	if err != nil {
		return nil, err
	}
	var out []isoEnt
	for i := 0; i < len(raw); {
		n := int(raw[i])
		if n == 0 { // records never straddle blocks: go to the next one
			i = (i/isoBlock + 1) * isoBlock
			continue
		}
		if n < 34 || i+n > len(raw) {
			return nil, errors.New("iso9660: bad directory record (corrupt image?)")
		}
		rec := raw[i : i+n]
		i += n
		nameLen := int(rec[32])
		if 33+nameLen > len(rec) {
			return nil, errors.New("iso9660: bad name length (corrupt image?)")
		}
		name := rec[33 : 33+nameLen]
		if nameLen == 1 && (name[0] == 0 || name[0] == 1) {
			continue // "." and ".."
		}
		e := f.record(rec)
		switch {
		case f.joliet:
			u := make([]uint16, nameLen/2)
			for k := range u {
				u[k] = binary.BigEndian.Uint16(name[2*k:])
			}
			e.name = string(utf16.Decode(u))
		default:
			e.name = string(name)
		}
		e.name = strings.TrimSuffix(strings.SplitN(e.name, ";", 2)[0], ".")
		if f.rr {
			if err := f.rockRidge(&e, sysUse(rec)); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// rockRidge applies NM (name), SL and PX (symlink) entries, following CE
// continuation areas a bounded number of times.
func (f *isoFS) rockRidge(e *isoEnt, su []byte) error {
	if f.skip < len(su) {
		su = su[f.skip:]
	} else {
		su = nil
	}
	var nm []byte
	haveNM := false
	for hop := 0; su != nil && hop <= maxCEHops; hop++ {
		var next []byte
		for len(su) >= 4 {
			sig, l := string(su[0:2]), int(su[2])
			if l < 4 || l > len(su) {
				break
			}
			data := su[4:l]
			switch sig {
			case "NM":
				if len(data) >= 1 && data[0]&0x06 == 0 {
					nm = append(nm, data[1:]...)
					haveNM = true
				}
			case "SL":
				e.symlink = true
			case "PX":
				if len(data) >= 4 && binary.LittleEndian.Uint32(data[0:])&0o170000 == 0o120000 {
					e.symlink = true
				}
			case "CE":
				if len(data) >= 24 {
					loc := int64(binary.LittleEndian.Uint32(data[0:])) * isoBlock
					off := int64(binary.LittleEndian.Uint32(data[8:]))
					n := int64(binary.LittleEndian.Uint32(data[16:]))
					if n > maxCESize || loc+off+n > f.size {
						return errors.New("iso9660: Rock Ridge continuation out of bounds (corrupt image?)")
					}
					next = make([]byte, n)
					if _, err := f.r.ReadAt(next, f.off+loc+off); err != nil {
						return fmt.Errorf("iso9660: %w", err)
					}
				}
			case "ST":
				su = nil
			}
			if su == nil {
				break
			}
			su = su[l:]
		}
		su = next
	}
	if haveNM && len(nm) > 0 {
		e.name = string(nm)
	}
	return nil
}

// Open opens a regular file, matching names case-insensitively and against
// the 8.3 form of a plain ISO; symlinks are refused.
func (f *isoFS) Open(p string) (io.ReadCloser, error) {
	cur := f.root
	els := strings.Split(p, "/")
	for k, el := range els {
		ents, err := f.readDir(cur)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		var match *isoEnt
		for i := range ents {
			if strings.EqualFold(ents[i].name, el) {
				match = &ents[i]
				break
			}
		}
		if match == nil {
			for i := range ents {
				if isoNameMatch(ents[i].name, el) {
					match = &ents[i]
					break
				}
			}
		}
		if match == nil {
			return nil, fmt.Errorf("%s: %w", p, errNotExist)
		}
		switch {
		case match.symlink:
			return nil, fmt.Errorf("%q: symlink on the volume: %w", p, ErrEscape)
		case k < len(els)-1 && !match.dir:
			return nil, fmt.Errorf("%s: %s is not a directory", p, match.name)
		case k == len(els)-1 && match.dir:
			return nil, fmt.Errorf("%s: is a directory", p)
		case k == len(els)-1 && match.multi:
			return nil, fmt.Errorf("%s: multi-extent files (over 4 GiB) are not supported", p)
		}
		cur = *match
	}
	if cur.loc < 0 || cur.loc+cur.size > f.size {
		return nil, fmt.Errorf("%s: file extends past the end of the volume (truncated image?)", p)
	}
	return io.NopCloser(io.NewSectionReader(f.r, f.off+cur.loc, cur.size)), nil
}
