package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateStopsOnSIGTERM: main turns SIGTERM into a cancelled context
// (signal.NotifyContext); validate then stops at once, inside one large
// seed too, instead of finishing the report.
func TestValidateStopsOnSIGTERM(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	data := "version: 1\nhost:\n  hostname: pve1\n  ntp:\n" + strings.Repeat("    - 10.0.0.1\n", 190000)
	if err := os.WriteFile(big, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := runValidate(ctx, []string{big, big, big, big, big}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q: want it interrupted", code, stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s to stop", d)
	}
}

// TestValidateSizeLimit: validate reads at most the boot's limit and
// refuses a bigger seed with the boot's message.
func TestValidateSizeLimit(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("version: 1\n"+strings.Repeat("#\n", 3<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runValidate(context.Background(), []string{big}, &stdout, &stderr); code != exitFailed {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "over the 4194304-byte limit") {
		t.Fatalf("no size message: %s", stdout.String())
	}
}
