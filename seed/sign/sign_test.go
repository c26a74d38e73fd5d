package sign

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (apt-get install openssh-client)")
	}
}

func keygen(t *testing.T, dir, typ string, extra ...string) (priv, pub string) {
	t.Helper()
	priv = filepath.Join(dir, "id_"+typ)
	args := append([]string{"-q", "-t", typ, "-N", "", "-C", typ + "@test", "-f", priv}, extra...)
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(b))
}

// sshSign signs msg with the real ssh-keygen -Y sign.
func sshSign(t *testing.T, key, namespace string, msg []byte) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(f, msg, 0o600)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", namespace, f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestVerifySSHKeygenSignatures verifies signatures made by ssh-keygen -Y
// sign with every supported key type, and the failure cases.
func TestVerifySSHKeygenSignatures(t *testing.T) {
	needKeygen(t)
	msg := []byte("version: 1\nhost:\n  hostname: pve1\n")
	now := time.Now()
	for _, kt := range []struct {
		typ   string
		extra []string
	}{{"ed25519", nil}, {"ecdsa", []string{"-b", "256"}}, {"rsa", []string{"-b", "3072"}}} {
		t.Run(kt.typ, func(t *testing.T) {
			priv, pub := keygen(t, t.TempDir(), kt.typ, kt.extra...)
			_, otherPub := keygen(t, t.TempDir(), "ed25519")
			signers, err := ParseAllowedSigners([]byte("# trusted\nadmin@example.org namespaces=\"phoenix-seed\" " + pub + "\nother@example.org " + otherPub + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			sig := sshSign(t, priv, Namespace, msg)
			if p, err := Verify(signers, Namespace, msg, sig, now); err != nil || p != "admin@example.org" {
				t.Fatalf("good signature: %q, %v", p, err)
			}
			if _, err := Verify(signers, Namespace, append([]byte("#\n"), msg...), sig, now); !errors.Is(err, ErrBadSignature) {
				t.Errorf("tampered seed: want ErrBadSignature, got %v", err)
			}
			if _, err := Verify(signers[1:], Namespace, msg, sig, now); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("unknown key: want ErrUnknownKey, got %v", err)
			}
			wrongNS := sshSign(t, priv, "file", msg)
			if _, err := Verify(signers, Namespace, msg, wrongNS, now); !errors.Is(err, ErrNamespace) {
				t.Errorf("wrong namespace: want ErrNamespace, got %v", err)
			}
		})
	}
}

// TestSignVerifiedBySSHKeygen: a signature made in Go passes the real
// ssh-keygen -Y verify, and the key is read from an ssh-keygen key file.
func TestSignVerifiedBySSHKeygen(t *testing.T) {
	needKeygen(t)
	dir := t.TempDir()
	priv, pub := keygen(t, dir, "ed25519")
	keyData, _ := os.ReadFile(priv)
	key, err := ParsePrivateKey(keyData)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("version: 1\nhost:\n  hostname: pve1\n")
	sig, err := SignEd25519(key, Namespace, msg)
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, []byte("admin@example.org "+pub+"\n"), 0o600)
	sigFile := filepath.Join(dir, "seed.yaml.sig")
	os.WriteFile(sigFile, sig.Marshal(), 0o600)
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "admin@example.org", "-n", Namespace, "-s", sigFile)
	cmd.Stdin = strings.NewReader(string(msg))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -Y verify rejected the Go signature: %v\n%s", err, out)
	}
	// And the negative: ssh-keygen refuses it for other content.
	cmd = exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "admin@example.org", "-n", Namespace, "-s", sigFile)
	cmd.Stdin = strings.NewReader("version: 2\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("ssh-keygen accepted a signature over other content: %s", out)
	}
	// Round trip through our own parser.
	if p, err := Verify(mustSigners(t, "admin@example.org "+pub), Namespace, msg, sig.Marshal(), time.Now()); err != nil || p != "admin@example.org" {
		t.Fatalf("own verify: %q %v", p, err)
	}
}

func mustSigners(t *testing.T, text string) []Signer {
	t.Helper()
	s, err := ParseAllowedSigners([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEncryptedKeyUnsupported(t *testing.T) {
	needKeygen(t)
	priv := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	b, _ := os.ReadFile(priv)
	if _, err := ParsePrivateKey(b); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("want ErrUnsupportedKey, got %v", err)
	}
}

func TestAllowedSignersOptions(t *testing.T) {
	needKeygen(t)
	priv, pub := keygen(t, t.TempDir(), "ed25519")
	msg := []byte("m")
	sig := sshSign(t, priv, Namespace, msg)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		line string
		ok   bool
	}{
		{`a@x ` + pub, true},
		{`a@x,b@x namespaces="file,phoenix-*" ` + pub, true},
		{`a@x namespaces="file" ` + pub, false},
		{`a@x valid-after="20260101Z",valid-before="20270101Z" ` + pub, true},
		{`a@x valid-before=20260101Z ` + pub, false},
		{`a@x valid-after=20270101Z ` + pub, false},
		{`a@x cert-authority ` + pub, false}, // certificates are not supported: line skipped
	}
	for _, c := range cases {
		s, err := ParseAllowedSigners([]byte(c.line))
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		_, err = Verify(s, Namespace, msg, sig, now)
		if (err == nil) != c.ok {
			t.Errorf("%s: ok=%v, err=%v", c.line, c.ok, err)
		}
	}
	for _, bad := range []string{"a@x", "a@x ssh-ed25519 !!!", "a@x bogus=1 " + pub, "a@x ssh-rsa " + strings.Fields(pub)[1]} {
		if _, err := ParseAllowedSigners([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: want a line-1 error, got %v", bad, err)
		}
	}
}

func TestParseGarbage(t *testing.T) {
	for _, s := range []string{"", "-----BEGIN SSH SIGNATURE-----\n!!\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAAP8=\n-----END SSH SIGNATURE-----"} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}
