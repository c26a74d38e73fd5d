package source

// Partition tables are read here rather than with go-diskfs's
// partition.Read: that one trusts the GPT header's entry count and size, so
// a crafted stick can make it allocate gigabytes (FuzzProbe stalled on it).
// This reader caps both, checks the header CRC, and reads the primary table
// only.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// part is one partition: byte offset and size on the device.
type part struct {
	index       int
	start, size int64
}

const maxGPTEntries = 256

// readTable reads an MBR or GPT partition table. table is "dos" or "gpt".
func readTable(r io.ReaderAt, size int64) (table string, parts []part, err error) {
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return "", nil, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return "", nil, errNoTable
	}
	protective := false
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		typ := e[4]
		if typ == 0xEE {
			protective = true
		}
		if e[0] != 0 && e[0] != 0x80 {
			return "", nil, errNoTable // boot flag neither 0 nor 0x80: a boot sector, not an MBR
		}
		start := int64(binary.LittleEndian.Uint32(e[8:])) * 512
		n := int64(binary.LittleEndian.Uint32(e[12:])) * 512
		if typ == 0 || typ == 0xEE || typ == 0x05 || typ == 0x0F || typ == 0x85 || n == 0 {
			continue
		}
		parts = append(parts, part{index: i + 1, start: start, size: n})
	}
	if protective {
		for _, ss := range []int64{512, 4096} {
			if gp, err := readGPT(r, ss, size); err == nil {
				return "gpt", gp, nil
			} else if !errors.Is(err, errNoGPT) {
				return "", nil, err
			}
		}
	}
	if len(parts) == 0 {
		return "", nil, errNoTable
	}
	return "dos", parts, nil
}

var (
	errNoGPT   = errors.New("no GPT header")
	errNoTable = errors.New("no partition table")
)

func readGPT(r io.ReaderAt, ss, size int64) ([]part, error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, ss); err != nil {
		return nil, errNoGPT
	}
	if !bytes.Equal(h[0:8], []byte("EFI PART")) {
		return nil, errNoGPT
	}
	hsize := binary.LittleEndian.Uint32(h[12:])
	if hsize < 92 || int64(hsize) > ss {
		return nil, errors.New("gpt: bad header size")
	}
	hdr := append([]byte(nil), h[:hsize]...)
	want := binary.LittleEndian.Uint32(hdr[16:])
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	if crc32.ChecksumIEEE(hdr) != want {
		return nil, errors.New("gpt: header checksum mismatch (corrupt table)")
	}
	entLBA := int64(binary.LittleEndian.Uint64(h[72:]))
	count := int64(binary.LittleEndian.Uint32(h[80:]))
	esize := int64(binary.LittleEndian.Uint32(h[84:]))
	if count > maxGPTEntries || esize < 128 || esize > 1024 || esize%8 != 0 || entLBA < 2 || entLBA > size/ss {
		return nil, errors.New("gpt: implausible partition array")
	}
	arr := make([]byte, count*esize)
	if _, err := r.ReadAt(arr, entLBA*ss); err != nil {
		return nil, errors.New("gpt: partition array beyond the end of the device (truncated?)")
	}
	if crc32.ChecksumIEEE(arr) != binary.LittleEndian.Uint32(h[88:]) {
		return nil, errors.New("gpt: partition array checksum mismatch (corrupt table)")
	}
	var parts []part
	zero := make([]byte, 16)
	for i := int64(0); i < count; i++ {
		e := arr[i*esize : (i+1)*esize]
		if bytes.Equal(e[0:16], zero) {
			continue
		}
		first := int64(binary.LittleEndian.Uint64(e[32:]))
		last := int64(binary.LittleEndian.Uint64(e[40:]))
		if last < first || first > size/ss {
			continue
		}
		parts = append(parts, part{index: int(i) + 1, start: first * ss, size: (last - first + 1) * ss})
	}
	return parts, nil
}
