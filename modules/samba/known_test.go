package samba_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/samba"
)

// knownSeeds cover every typed key of the samba section at the edges of
// what validation admits: the longest workgroup and share name with every
// character their grammars allow, free text with smb.conf's special
// characters, masks of three and four digits, both values of every
// boolean, guests (which add "map to guest"), users and groups.
var knownSeeds = map[string]string{
	"the comparison's": `
samba:
  workgroup: WORKGROUP
  shares:
    - {name: share, path: /srv/share, comment: Phoenix e2e share}
`,
	"edges": `
users:
  - {name: _svc-1}
  - {name: alice}
samba:
  workgroup: "Ab_c.d!e-012345"
  server_string: "Lab NAS: 100% #1; [x] = y \\ z 'q' \"dq\" é"
  shares:
    - name: "A share $ with.every_char- 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLM"
      path: "/srv/odd-dir_x.y/#;[]=%+,~@!"
      comment: "; not a comment # nor this [global] = x"
      read_only: true
      browseable: false
      guest_ok: true
      valid_users: [_svc-1, alice, "@staff", "@_grp-2"]
      create_mask: "600"
      directory_mask: "2775"
    - {name: x$, path: /x, read_only: false, browseable: true, guest_ok: false, create_mask: "0664", directory_mask: "0775"}
`,
	"no workgroup, many shares": `
samba:
  shares:
    - {name: a, path: /a}
    - {name: b, path: /b, comment: B}
    - {name: "c d", path: /c/d, guest_ok: true}
`,
}

// TestKnownGoodTestparm: where the module runs no testparm (smb.conf is
// Debian's default, or there is none, and the seed has no samba.global),
// the real testparm, judged as the module judges it, accepts what the
// module wrote; every other case still runs testparm first.
func TestKnownGoodTestparm(t *testing.T) {
	packaged, err := os.ReadFile("testdata/debian.smb.conf")
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string][]byte{"Debian 12 and 13 (testdata)": packaged, "no smb.conf": nil}
	if b, err := os.ReadFile("/usr/share/samba/smb.conf"); err == nil && !bytes.Equal(b, packaged) {
		defaults["this machine's "+samba.PackagedConf] = b
	}
	ranTestparm := func(w *world) bool { return len(testkit.Commands(w.run.Log(), samba.TestparmCmd+" ")) > 0 }
	for dname, def := range defaults {
		for sname, y := range knownSeeds {
			t.Run(dname+"/"+sname, func(t *testing.T) {
				w := newWorld(t)
				testkit.Write(t, w.root, samba.PackagedConf, string(packaged))
				if def == nil {
					if err := w.root.Remove(samba.SmbConf); err != nil {
						t.Fatal(err)
					}
				} else {
					testkit.Write(t, w.root, samba.SmbConf, string(def))
				}
				res, err := modules.Apply(context.Background(), samba.New(), w.env(testkit.Seed(t, y)))
				if err != nil {
					t.Fatal(err)
				}
				if ranTestparm(w) {
					t.Errorf("testparm ran where its answer is known:\n%s", w.run.Log())
				}
				if !strings.Contains(strings.Join(res.Changed, "\n"), "no testparm") {
					t.Errorf("the change does not say testparm was not run: %q", res.Changed)
				}
				testparmOK(t, w.inlined(t))
			})
		}
	}
	for name, c := range map[string]struct {
		smb, packaged []byte
		seed          string
	}{
		"an admin's edit":  {append(bytes.Clone(packaged), "   log level = 1\n"...), packaged, knownSeeds["the comparison's"]},
		"no packaged file": {packaged, nil, knownSeeds["the comparison's"]},
		"samba.global":     {packaged, packaged, knownSeeds["the comparison's"] + "  global: {\"log level\": \"1\"}\n"},
	} {
		t.Run("testparm runs/"+name, func(t *testing.T) {
			w := newWorld(t)
			testkit.Write(t, w.root, samba.SmbConf, string(c.smb))
			if c.packaged != nil {
				testkit.Write(t, w.root, samba.PackagedConf, string(c.packaged))
			}
			res, err := modules.Apply(context.Background(), samba.New(), w.env(testkit.Seed(t, c.seed)))
			if err != nil {
				t.Fatal(err)
			}
			if !ranTestparm(w) || !strings.Contains(strings.Join(res.Changed, "\n"), "(checked by testparm)") {
				t.Errorf("testparm did not run: %q\n%s", res.Changed, w.run.Log())
			}
		})
	}
}
