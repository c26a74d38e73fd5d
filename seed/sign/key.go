package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrUnsupportedKey means the private key cannot be used in Go (encrypted,
// or not ed25519); the CLI then hands the job to ssh-keygen.
var ErrUnsupportedKey = errors.New("unsupported private key")

// ParsePrivateKey reads an unencrypted ed25519 key in the OpenSSH format
// ("-----BEGIN OPENSSH PRIVATE KEY-----", openssh-key-v1).
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "OPENSSH PRIVATE KEY" {
		return nil, fmt.Errorf("%w: not an OpenSSH private key", ErrUnsupportedKey)
	}
	const keyMagic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(blk.Bytes, []byte(keyMagic)) {
		return nil, fmt.Errorf("%w: bad magic", ErrUnsupportedKey)
	}
	r := &reader{b: blk.Bytes[len(keyMagic):]}
	cipher, kdf := r.str(), r.str()
	r.bytes() // kdf options
	n := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, r.err)
	}
	if cipher != "none" || kdf != "none" {
		return nil, fmt.Errorf("%w: key is encrypted", ErrUnsupportedKey)
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: %d keys in one file", ErrUnsupportedKey, n)
	}
	r.bytes() // public key
	priv := &reader{b: r.bytes()}
	c1, c2 := priv.u32(), priv.u32()
	if priv.err == nil && c1 != c2 {
		return nil, fmt.Errorf("%w: check bytes differ (encrypted?)", ErrUnsupportedKey)
	}
	t := priv.str()
	if priv.err == nil && t != "ssh-ed25519" {
		return nil, fmt.Errorf("%w: key type %s", ErrUnsupportedKey, t)
	}
	priv.bytes() // public
	k := priv.bytes()
	if priv.err != nil || len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: bad ed25519 key", ErrUnsupportedKey)
	}
	return ed25519.PrivateKey(append([]byte(nil), k...)), nil
}
