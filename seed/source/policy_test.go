package source

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshKey makes an ed25519 key with the real ssh-keygen; it returns the
// private key path and the allowed_signers line for principal.
func sshKey(t *testing.T, principal string) (string, string) {
	t.Helper()
	needTool(t, "ssh-keygen")
	priv := filepath.Join(t.TempDir(), "id")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", priv)
	pub, _ := os.ReadFile(priv + ".pub")
	return priv, principal + " " + strings.TrimSpace(string(pub)) + "\n"
}

func sshSign(t *testing.T, key, namespace, data string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "seed.yaml")
	os.WriteFile(f, []byte(data), 0o600)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", namespace, f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(f + ".sig")
	return string(b)
}

// manifestOf is the manifest of a seed without bundle files.
func manifestOf(t testing.TB, seed string, serial uint64) string {
	t.Helper()
	m, err := BuildManifest([]byte(seed), serial, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(m)
}

func TestSignaturePolicy(t *testing.T) {
	key, trusted := sshKey(t, "admin@example.org")
	stranger, _ := sshKey(t, "x")
	man := manifestOf(t, tinySeed, 1)
	good := sshSign(t, key, Namespace, man)
	cases := []struct {
		name      string
		sig       string // "" = unsigned
		seed      string // "" = tinySeed
		man       string // "" = the manifest of tinySeed, "-" = none
		completed bool
		require   bool
		noSigners bool
		accept    bool
		signed    bool
		why       string
	}{
		{name: "unsigned before completion", accept: true},
		{name: "unsigned, signatures required", require: true, why: "unsigned seed refused: signatures required by /etc/phoenix/require-signed"},
		{name: "unsigned after completion", completed: true, why: "unsigned seed ignored after the first completion"},
		{name: "good after completion", sig: good, completed: true, accept: true, signed: true},
		{name: "good, required", sig: good, require: true, accept: true, signed: true},
		{name: "changed seed after completion", sig: good, seed: tinySeed + "# evil\n", completed: true, why: "does not match the signed manifest"},
		{name: "changed seed before completion", sig: good, seed: tinySeed + "# evil\n", why: "does not match the signed manifest"},
		{name: "bad signature after completion", sig: good, man: manifestOf(t, tinySeed, 2), completed: true, why: "signature does not verify"},
		{name: "bad signature before completion", sig: good, man: manifestOf(t, tinySeed, 2), why: "signature does not verify"},
		{name: "signature without manifest", sig: good, man: "-", completed: true, why: "no seed.yaml.manifest next to it"},
		{name: "unknown key", sig: sshSign(t, stranger, Namespace, man), completed: true, why: "not in the allowed signers"},
		{name: "wrong namespace", sig: sshSign(t, key, "file", man), completed: true, why: `wrong signature namespace: signed for "file"`},
		{name: "signed, no allowed_signers, after completion", sig: good, completed: true, noSigners: true, why: "/etc/phoenix/allowed_signers is absent"},
		{name: "signed, no allowed_signers, before completion", sig: good, noSigners: true, accept: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.seed
			if data == "" {
				data = tinySeed
			}
			files := map[string]string{"seed.yaml": data}
			if c.sig != "" {
				files["seed.yaml.sig"] = c.sig
				switch c.man {
				case "":
					files["seed.yaml.manifest"] = man
				case "-":
				default:
					files["seed.yaml.manifest"] = c.man
				}
			}
			stick := mkFAT(t, 4, "PHOENIX", files)
			r := newRoot(t, fakeBlock{name: "sdb", removable: true, image: stick})
			if !c.noSigners {
				put(t, r, AllowedSigners, trusted)
			}
			if c.require {
				put(t, r, RequireSignedFile, "")
			}
			var logs []string
			f, err := Locate(context.Background(), Options{Root: r, Wait: -1, Completed: c.completed, Log: func(s string) { logs = append(logs, s) }})
			if !c.accept {
				if !errors.Is(err, ErrNoSeed) {
					t.Fatalf("want the stick ignored, got %v", err)
				}
				if !strings.Contains(err.Error(), c.why) {
					t.Fatalf("error does not say %q:\n%v", c.why, err)
				}
				if len(logs) == 0 || !strings.Contains(logs[0], "/dev/sdb") || !strings.Contains(logs[0], c.why) {
					t.Fatalf("log does not say why /dev/sdb was ignored: %q", logs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Signed != c.signed || (c.signed && f.Signer != "admin@example.org") {
				t.Fatalf("signed=%v signer=%q", f.Signed, f.Signer)
			}
		})
	}
}

// TestLocalSeedTrustedAfterCompletion: files under /etc/phoenix need no
// signature, since root put them there.
func TestLocalSeedTrustedAfterCompletion(t *testing.T) {
	r := newRoot(t)
	put(t, r, RequireSignedFile, "")
	put(t, r, "/etc/phoenix/seed.json", `{"version": 1}`)
	f, err := Locate(context.Background(), Options{Root: r, Completed: true, RequireSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != "file /etc/phoenix/seed.json" || f.Name != "/etc/phoenix/seed.json" {
		t.Fatalf("%+v", f)
	}
}

// TestL4SeedLimitOnDevices: phoenix.seed=/dev/zero (Stat size 0) must not
// read without bound, and a device or FIFO is never a trusted local seed.
func TestL4SeedLimitOnDevices(t *testing.T) {
	r := newRoot(t)
	put(t, r, "/proc/cmdline", "quiet phoenix.seed=/dev/zero\n")
	if err := os.MkdirAll(r.Path("/dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The root's /dev/zero is the real one (a character device).
	if err := exec.Command("cp", "-a", "/dev/zero", r.Path("/dev/zero")).Run(); err != nil {
		// Not root: a FIFO is the same kind of file for this check.
		if err := exec.Command("mkfifo", r.Path("/dev/zero")).Run(); err != nil {
			t.Skip("cannot make a device or FIFO here")
		}
	}
	_, err := Locate(context.Background(), Options{Root: r, Wait: -1})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("want a refusal of the non-regular file, got %v", err)
	}
	// A regular file that grows past the limit between Stat and read is
	// cut at the limit and refused.
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", MaxSeedSize/2+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readLimited(big); err == nil {
		t.Fatal("a seed over the limit was read")
	}
}
