package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Curl is the command Download runs.
const Curl = "curl"

// Timeout bounds one download (curl retries included): a driver runfile
// is a few hundred MB.
const Timeout = time.Hour

// MismatchError is a file whose SHA-256 is not the expected one.
type MismatchError struct {
	File string // the path that was checked
	Got  string // its SHA-256, lowercase hex
	Want string // as given by the seed
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: checksum mismatch: sha256 %s, want %s", e.File, e.Got, e.Want)
}

// Verify checks the file at p (a real path) against want, a hex SHA-256
// with or without a "sha256:" prefix. An empty want only checks that the
// file can be opened. A wrong digest is a *MismatchError.
func Verify(p, want string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if want == "" {
		return nil
	}
	return check(f, p, want)
}

// check hashes f and compares the digest with want.
func check(f *os.File, p, want string) error {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, strings.TrimPrefix(want, "sha256:")) {
		return &MismatchError{File: p, Got: got, Want: want}
	}
	return nil
}

// Download fetches url into dst (a real path whose directory exists) with
// `curl -fsSL --retry 3 -o DST.part URL` and renames the part file to dst
// only once its SHA-256 is want (empty: not checked), after an fsync, with
// mode 0644. On any failure the part file is removed: a failed, cut or
// mismatched download never leaves a file at dst that looks complete.
func Download(ctx context.Context, r host.Runner, url, dst, want string) error {
	part := dst + ".part"
	if _, err := r.Run(ctx, host.Cmd{Name: Curl, Args: []string{"-fsSL", "--retry", "3", "-o", part, url}, Timeout: Timeout}); err != nil {
		os.Remove(part)
		return err
	}
	if err := keep(part, dst, want); err != nil {
		os.Remove(part)
		return err
	}
	return nil
}

// keep verifies part, makes it durable and renames it to dst.
func keep(part, dst, want string) error {
	f, err := os.Open(part)
	if err != nil {
		return err
	}
	defer f.Close()
	if want != "" {
		if err := check(f, dst, want); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Chmod(part, 0o644); err != nil {
		return err
	}
	return os.Rename(part, dst)
}
