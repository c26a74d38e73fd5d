package samba

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"strings"
	"unicode/utf16"
)

// NTHash is the NT hash of a password: MD4 of its UTF-16LE encoding, in
// upper-case hex as pdbedit -w prints it. It lets the module compare a
// password file with the passdb without ever handing the password to a
// command line; the fake tools use it too.
func NTHash(password string) string {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	sum := md4(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// md4 is RFC 1320. Go's standard library has no MD4, and x/crypto is not a
// dependency of this module; MD4 is only used to compare NT hashes.
func md4(msg []byte) [16]byte {
	a0, b0, c0, d0 := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	n := len(msg)
	pad := append(append([]byte{}, msg...), 0x80)
	for len(pad)%64 != 56 {
		pad = append(pad, 0)
	}
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(n)*8)
	pad = append(pad, l[:]...)
	f := func(x, y, z uint32) uint32 { return x&y | ^x&z }
	g := func(x, y, z uint32) uint32 { return x&y | x&z | y&z }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	for off := 0; off < len(pad); off += 64 {
		var X [16]uint32
		for i := range X {
			X[i] = binary.LittleEndian.Uint32(pad[off+4*i:])
		}
		a, b, c, d := a0, b0, c0, d0
		r1 := [4]int{3, 7, 11, 19}
		for i := 0; i < 16; i++ {
			k := i
			t := a + f(b, c, d) + X[k]
			a, b, c, d = d, bits.RotateLeft32(t, r1[i%4]), b, c
		}
		r2 := [4]int{3, 5, 9, 13}
		for i := 0; i < 16; i++ {
			k := (i%4)*4 + i/4
			t := a + g(b, c, d) + X[k] + 0x5a827999
			a, b, c, d = d, bits.RotateLeft32(t, r2[i%4]), b, c
		}
		r3 := [4]int{3, 9, 11, 15}
		order := [16]int{0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15}
		for i := 0; i < 16; i++ {
			t := a + h(b, c, d) + X[order[i]] + 0x6ed9eba1
			a, b, c, d = d, bits.RotateLeft32(t, r3[i%4]), b, c
		}
		a0, b0, c0, d0 = a0+a, b0+b, c0+c, d0+d
	}
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a0)
	binary.LittleEndian.PutUint32(out[4:], b0)
	binary.LittleEndian.PutUint32(out[8:], c0)
	binary.LittleEndian.PutUint32(out[12:], d0)
	return out
}
