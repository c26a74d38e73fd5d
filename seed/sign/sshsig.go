package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Namespace is the ssh-keygen -Y namespace of Phoenix seed signatures.
const Namespace = "phoenix-seed"

const (
	magic      = "SSHSIG"
	sigVersion = 1
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
)

// Errors a caller may want to tell apart.
var (
	ErrBadSignature = errors.New("signature does not verify")
	ErrUnknownKey   = errors.New("signing key is not in the allowed signers")
	ErrNamespace    = errors.New("wrong signature namespace")
)

// Signature is a decoded SSHSIG blob.
type Signature struct {
	PublicKey []byte // SSH wire-format public key
	Namespace string
	HashAlg   string // sha256 or sha512
	Format    string // signature algorithm: ssh-ed25519, rsa-sha2-512, ...
	Blob      []byte // the raw signature
}

// Parse decodes an armored SSH signature.
func Parse(armored []byte) (*Signature, error) {
	s := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(s, armorBegin) || !strings.HasSuffix(s, armorEnd) {
		return nil, fmt.Errorf("sshsig: not an armored SSH signature (want %s)", armorBegin)
	}
	body := strings.Join(strings.Fields(s[len(armorBegin):len(s)-len(armorEnd)]), "")
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("sshsig: %w", err)
	}
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, errors.New("sshsig: missing SSHSIG magic")
	}
	r := &reader{b: raw[len(magic):]}
	if v := r.u32(); r.err == nil && v != sigVersion {
		return nil, fmt.Errorf("sshsig: unsupported version %d", v)
	}
	sig := &Signature{PublicKey: r.bytes(), Namespace: r.str()}
	r.bytes() // reserved
	sig.HashAlg = r.str()
	inner := r.bytes()
	if r.err != nil {
		return nil, fmt.Errorf("sshsig: %w", r.err)
	}
	ir := &reader{b: inner}
	sig.Format = ir.str()
	sig.Blob = ir.bytes()
	if ir.err != nil {
		return nil, fmt.Errorf("sshsig: signature: %w", ir.err)
	}
	return sig, nil
}

// Marshal armors a signature the way ssh-keygen does (70-column base64).
func (s *Signature) Marshal() []byte {
	inner := &writer{}
	inner.str(s.Format)
	inner.bytes(s.Blob)
	w := &writer{b: []byte(magic)}
	w.u32(sigVersion)
	w.bytes(s.PublicKey)
	w.str(s.Namespace)
	w.str("")
	w.str(s.HashAlg)
	w.bytes(inner.b)
	enc := base64.StdEncoding.EncodeToString(w.b)
	var out strings.Builder
	out.WriteString(armorBegin + "\n")
	for len(enc) > 70 {
		out.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	out.WriteString(enc + "\n" + armorEnd + "\n")
	return []byte(out.String())
}

// signedData is what the key actually signs: the magic, namespace, reserved
// field, hash algorithm and the hash of the message.
func signedData(namespace, hashAlg string, msg []byte) ([]byte, error) {
	var h []byte
	switch hashAlg {
	case "sha512":
		s := sha512.Sum512(msg)
		h = s[:]
	case "sha256":
		s := sha256.Sum256(msg)
		h = s[:]
	default:
		return nil, fmt.Errorf("sshsig: unsupported hash algorithm %q", hashAlg)
	}
	w := &writer{b: []byte(magic)}
	w.str(namespace)
	w.str("")
	w.str(hashAlg)
	w.bytes(h)
	return w.b, nil
}

// Check verifies sig over msg with the public key inside it, in namespace.
// It does not say whether that key is trusted: Verify does.
func (s *Signature) Check(namespace string, msg []byte) error {
	if s.Namespace != namespace {
		return fmt.Errorf("%w: signed for %q, want %q", ErrNamespace, s.Namespace, namespace)
	}
	data, err := signedData(s.Namespace, s.HashAlg, msg)
	if err != nil {
		return err
	}
	return verifyRaw(s.PublicKey, s.Format, s.Blob, data)
}

// verifyRaw checks one SSH signature blob over data.
func verifyRaw(pub []byte, format string, blob, data []byte) error {
	r := &reader{b: pub}
	keyType := r.str()
	switch keyType {
	case "ssh-ed25519":
		k := r.bytes()
		if r.err != nil || len(k) != ed25519.PublicKeySize {
			return errors.New("sshsig: bad ed25519 public key")
		}
		if format != keyType {
			return fmt.Errorf("sshsig: %s signature from an %s key", format, keyType)
		}
		if !ed25519.Verify(ed25519.PublicKey(k), data, blob) {
			return ErrBadSignature
		}
		return nil
	case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
		curveName := r.str()
		point := r.bytes()
		if r.err != nil || "ecdsa-sha2-"+curveName != keyType {
			return errors.New("sshsig: bad ecdsa public key")
		}
		var curve elliptic.Curve
		var h crypto.Hash
		switch curveName {
		case "nistp256":
			curve, h = elliptic.P256(), crypto.SHA256
		case "nistp384":
			curve, h = elliptic.P384(), crypto.SHA384
		default:
			curve, h = elliptic.P521(), crypto.SHA512
		}
		pk, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return fmt.Errorf("sshsig: ecdsa public key: %w", err)
		}
		if format != keyType {
			return fmt.Errorf("sshsig: %s signature from an %s key", format, keyType)
		}
		sr := &reader{b: blob}
		rr, ss := sr.mpint(), sr.mpint()
		if sr.err != nil {
			return fmt.Errorf("sshsig: ecdsa signature: %w", sr.err)
		}
		hh := h.New()
		hh.Write(data)
		if !ecdsa.Verify(pk, hh.Sum(nil), rr, ss) {
			return ErrBadSignature
		}
		return nil
	case "ssh-rsa":
		e, n := r.mpint(), r.mpint()
		if r.err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return errors.New("sshsig: bad rsa public key")
		}
		if n.BitLen() < 2048 {
			return fmt.Errorf("sshsig: rsa key of %d bits is too small", n.BitLen())
		}
		pk := &rsa.PublicKey{N: n, E: int(e.Int64())}
		var h crypto.Hash
		switch format {
		case "rsa-sha2-256":
			h = crypto.SHA256
		case "rsa-sha2-512":
			h = crypto.SHA512
		default:
			// ssh-keygen refuses SHA-1 ("ssh-rsa") signatures for SSHSIG too.
			return fmt.Errorf("sshsig: unsupported rsa signature algorithm %q", format)
		}
		hh := h.New()
		hh.Write(data)
		if rsa.VerifyPKCS1v15(pk, h, hh.Sum(nil), blob) != nil {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("sshsig: unsupported key type %q", keyType)
}

// Verify checks an armored signature of msg in namespace against the
// allowed signers valid at now, and returns the matching principal(s).
func Verify(signers []Signer, namespace string, msg, armored []byte, now time.Time) (string, error) {
	sig, err := Parse(armored)
	if err != nil {
		return "", err
	}
	if sig.Namespace != namespace {
		return "", fmt.Errorf("%w: signed for %q, want %q", ErrNamespace, sig.Namespace, namespace)
	}
	var match *Signer
	var refused error
	for i := range signers {
		s := &signers[i]
		if !bytes.Equal(s.Key, sig.PublicKey) {
			continue
		}
		if err := s.allows(namespace, now); err != nil {
			refused = err
			continue
		}
		match = s
		break
	}
	if match == nil {
		if refused != nil {
			return "", refused
		}
		return "", fmt.Errorf("%w (%s)", ErrUnknownKey, Fingerprint(sig.PublicKey))
	}
	if err := sig.Check(namespace, msg); err != nil {
		return "", err
	}
	return match.Principals, nil
}

// Fingerprint is the SHA256 fingerprint of a wire-format key, as ssh-keygen -l shows it.
func Fingerprint(pub []byte) string {
	s := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(s[:])
}

// SignEd25519 signs msg in namespace with an ed25519 key.
func SignEd25519(key ed25519.PrivateKey, namespace string, msg []byte) (*Signature, error) {
	data, err := signedData(namespace, "sha512", msg)
	if err != nil {
		return nil, err
	}
	w := &writer{}
	w.str("ssh-ed25519")
	w.bytes(key.Public().(ed25519.PublicKey))
	return &Signature{
		PublicKey: w.b,
		Namespace: namespace,
		HashAlg:   "sha512",
		Format:    "ssh-ed25519",
		Blob:      ed25519.Sign(key, data),
	}, nil
}
