package sign

import (
	"encoding/binary"
	"errors"
	"math/big"
)

var errShort = errors.New("truncated SSH wire data")

// reader decodes the SSH wire format (RFC 4251 section 5).
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) mpint() *big.Int {
	b := r.bytes()
	if r.err != nil {
		return nil
	}
	if len(b) > 0 && b[0]&0x80 != 0 {
		r.err = errors.New("negative mpint")
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// writer encodes the SSH wire format.
type writer struct{ b []byte }

func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

func (w *writer) bytes(v []byte) {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
}

func (w *writer) str(v string) { w.bytes([]byte(v)) }
