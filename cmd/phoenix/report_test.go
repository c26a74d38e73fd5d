package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap"
	"github.com/phoenix-pve/phoenix/seed/remote"
)

// TestRunReport: every run that ends posts its status to report.url (with
// the Bearer token, over a pinned certificate): rebooting, then failed,
// then done; no secret of the seed is in any body; a dead report server
// delays the run by its bounded retries only and never fails it.
func TestRunReport(t *testing.T) {
	const token = "report-token-5ec2e7"
	const hash = "$6$rounds=5000$saltsalt$Qv0DmvN6O9Y4yJ0g8d0s0XJ9p2Zk3Fv3o1qzj3u4e8lQbG6Z8bq1gKXo6V4pG1m9m2lC4a3mM7x0u5y6z7w8v."
	var mu sync.Mutex
	var bodies []map[string]any
	var raw []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.URL.Path != "/report" {
			w.WriteHeader(401)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		bodies, raw = append(bodies, m), append(raw, string(b))
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	root := t.TempDir()
	write := func(p, s string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	seedText := func(url string) string {
		return "version: 1\nhost:\n  hostname: pve1\nkernel:\n  cmdline: [intel_iommu=on]\nusers:\n  - name: ops\n    password_hash: \"" + hash + "\"\n" +
			"report:\n  url: " + url + "\n  token_file: /etc/phoenix/report.token\n  fingerprint: " + hex.EncodeToString(sum[:]) + "\n"
	}
	write("etc/phoenix/seed.yaml", seedText(srv.URL+"/report"), 0o644)
	write("etc/phoenix/report.token", token+"\n", 0o600)
	write("proc/sys/kernel/random/boot_id", "boot-1\n", 0o644)
	write("sys/class/dmi/id/product_serial", "ABC123\n", 0o400)
	// A real host key and its fingerprint as ssh-keygen -l prints it.
	wantFP := ""
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		key := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
		_ = os.MkdirAll(filepath.Dir(key), 0o755)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		out, err := exec.Command("ssh-keygen", "-l", "-f", key+".pub").Output()
		if err != nil {
			t.Fatal(err)
		}
		wantFP = strings.Fields(string(out))[1]
	} else {
		write("etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl root@pve1\n", 0o644)
	}
	t.Setenv("PHOENIX_TEST_MODULES", "host,kernel:reboot,users:fail")
	t.Setenv(offlineExecEnv, "host")
	reportTokenOwner = os.Getuid()
	t.Cleanup(func() { reportTokenOwner = 0 })
	var slept []time.Duration
	run := func() bootstrap.Outcome {
		t.Helper()
		var stderr bytes.Buffer
		o := engineOptions(context.Background(), root, "", &stderr, true)
		if o.SeedErr != nil {
			t.Fatal(o.SeedErr)
		}
		o.Reboot = func(context.Context) error {
			write("proc/sys/kernel/random/boot_id", "boot-"+time.Now().String()+"\n", 0o644)
			return nil
		}
		o.Ended = reportHook(o.Root, o.Seed.Report, &remote.Reporter{Root: o.Root, TokenOwner: os.Getuid(),
			Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }})
		out, _ := bootstrap.Run(context.Background(), o)
		return out
	}
	if out := run(); out.State != bootstrap.Rebooting {
		t.Fatalf("boot 1: %+v", out)
	}
	if out := run(); out.State != bootstrap.Failed {
		t.Fatalf("boot 2: %+v", out)
	}
	write("etc/phoenix-test/users.fixed", "", 0o644)
	if out := run(); out.State != bootstrap.Done {
		t.Fatalf("boot 3: %+v", out)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d reports: %q", len(bodies), raw)
	}
	for i, want := range []string{"rebooting", "failed", "done"} {
		b := bodies[i]
		if b["state"] != want {
			t.Errorf("report %d: state %v, want %s", i, b["state"], want)
		}
		if b["dmi"].(map[string]any)["system"].(map[string]any)["serial"] != "ABC123" {
			t.Errorf("report %d: no DMI serial: %s", i, raw[i])
		}
		fp, _ := b["ssh_host_key_fingerprints"].(map[string]any)["ed25519"].(string)
		if !strings.HasPrefix(fp, "SHA256:") || wantFP != "" && fp != wantFP {
			t.Errorf("report %d: host key fingerprint %q, ssh-keygen says %q", i, fp, wantFP)
		}
		if pub, _ := b["ssh_public_host_keys"].(map[string]any)["ed25519"].(string); !strings.HasPrefix(pub, "ssh-ed25519 ") {
			t.Errorf("report %d: public host key %q", i, pub)
		}
		if !strings.HasPrefix(b["seed"].(map[string]any)["digest"].(string), "sha256:") {
			t.Errorf("report %d: seed digest: %s", i, raw[i])
		}
		for _, secret := range []string{token, "saltsalt", "PRIVATE KEY", "BEGIN OPENSSH"} {
			if strings.Contains(raw[i], secret) {
				t.Errorf("report %d carries a secret %q: %s", i, secret, raw[i])
			}
		}
	}
	mods := bodies[1]["modules"].([]any)
	users := mods[2].(map[string]any)
	if users["name"] != "users" || users["state"] != "failed" || users["error"] == "" {
		t.Errorf("failed report modules: %v", mods)
	}
	if mods[0].(map[string]any)["state"] != "done" {
		t.Errorf("host module: %v", mods[0])
	}
	// A dead report server: the run is done all the same, after 3 tries.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	write("etc/phoenix/seed.yaml", strings.Replace(seedText(deadURL+"/report"), "  token_file: /etc/phoenix/report.token\n  fingerprint: "+hex.EncodeToString(sum[:])+"\n", "", 1), 0o644)
	slept = nil
	if out := run(); out.State != bootstrap.Done {
		t.Fatalf("dead server: %+v", out)
	}
	if len(slept) != 2 || slept[0] != 2*time.Second || slept[1] != 4*time.Second {
		t.Errorf("backoff %v, want [2s 4s]", slept)
	}
	log, _ := os.ReadFile(filepath.Join(root, "var/log/phoenix/phoenix.log"))
	if !strings.Contains(string(log), "report: "+deadURL+"/report: connect") {
		t.Errorf("the log does not say why the report failed:\n%s", log)
	}
}
