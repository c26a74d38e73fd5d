// Package sign signs and verifies seeds with SSH signatures, the SSHSIG
// format of `ssh-keygen -Y sign` / `-Y verify` (OpenSSH PROTOCOL.sshsig), in
// the namespace "phoenix-seed". It is written against the standard library
// alone: golang.org/x/crypto/ssh is not a dependency of this module, and the
// format is small. Verification supports ssh-ed25519, ecdsa-sha2-nistp256/
// 384/521 and ssh-rsa keys (rsa-sha2-256/512 signatures); signing in Go
// supports unencrypted ed25519 OpenSSH private keys (the CLI falls back to
// ssh-keygen for anything else).
//
// Trusted keys come from an ssh-keygen ALLOWED SIGNERS file: principals,
// options (namespaces="...", valid-after=, valid-before=; cert-authority
// lines are skipped because certificates are not supported), key type, key.
package sign
