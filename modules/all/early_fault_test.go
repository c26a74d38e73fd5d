package all_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/fault"
	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	aptfake "github.com/phoenix-pve/phoenix/modules/internal/apt/fake"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/nfs"
	nfsfake "github.com/phoenix-pve/phoenix/modules/nfs/fake"
	"github.com/phoenix-pve/phoenix/modules/node"
	"github.com/phoenix-pve/phoenix/modules/samba"
	sambafake "github.com/phoenix-pve/phoenix/modules/samba/fake"
	"github.com/phoenix-pve/phoenix/modules/users"
)

// earlySeed is the comparison's (testdata/vm/seeds/compare.yaml) with a
// second share, whose directory samba creates.
const earlySeed = `
host:
  hostname: phoenix-e2e
  timezone: Europe/Berlin
users:
  - name: admin
    groups: [sudo]
    sudo: nopasswd
    shell: /bin/bash
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFY0SrOUjD5343Ya27c23k+a7dW9M0pfE0kNIn0KesKA phoenix-e2e-key
nfs:
  exports:
    - path: /srv/share
      clients:
        - host: 10.0.2.0/24
          options: [rw, sync, no_subtree_check]
samba:
  workgroup: WORKGROUP
  shares:
    - name: share
      path: /srv/share
      comment: Phoenix e2e share
    - name: scratch
      path: /srv/scratch
`

// earlyWorld is a Debian host with nfs-kernel-server and samba installed
// and enabled, as the comparison's image is: the real shadow tools, the
// nfs and samba fakes for what cannot run here, and an smb.conf that is
// the packaged one, so that samba runs no testparm (knownGood), as there.
// Its boot queues the enabled services' start jobs behind the early
// stage; they run once it has ended (fault.World.EarlyDone).
func earlyWorld(tb testing.TB) *fault.World {
	root := testkit.Root(tb, map[string]string{
		users.Passwd:                        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		users.Shadow:                        "root:*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\n",
		users.Group:                         "root:x:0:\nsudo:x:27:\nusers:x:100:\nnogroup:x:65534:\n",
		"/etc/gshadow":                      "root:*::\nsudo:*::\nusers:*::\nnogroup:*::\n",
		"/etc/login.defs":                   "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUMASK 022\nHOME_MODE 0700\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n",
		users.Sudoers:                       "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
		"/etc/hostname":                     "debian\n",
		"/etc/hosts":                        "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n",
		"/etc/exports":                      "",
		samba.SmbConf:                       "[global]\n   workgroup = WORKGROUP\n",
		samba.PackagedConf:                  "[global]\n   workgroup = WORKGROUP\n",
		"/proc/sys/kernel/hostname":         "debian\n",
		"/usr/share/zoneinfo/Europe/Berlin": "TZif2 fake",
		nfs.ExportfsBin:                     "",
		samba.SmbdBin:                       "",
	})
	for p, mode := range map[string]os.FileMode{users.Shadow: 0o640, "/etc/gshadow": 0o640, users.Sudoers: 0o440} {
		if err := root.Chmod(p, mode); err != nil {
			tb.Fatal(err)
		}
	}
	if err := root.MkdirAll("/srv/share", 0o755, host.Owner{}); err != nil {
		tb.Fatal(err)
	}
	run := fakehost.New()
	apt := aptfake.New(nfs.Package, samba.Package)
	apt.Register(run)
	if err := apt.WriteStatus(root); err != nil {
		tb.Fatal(err)
	}
	nfsd, smbd := nfsfake.New(root), sambafake.New(root)
	nfsd.Register(run)
	smbd.Register(run)
	// One systemctl for both fakes, by the unit named.
	run.Handle("systemctl", func(ctx context.Context, c fakehost.Call) fakehost.Result {
		if slices.ContainsFunc(c.Cmd.Args, func(a string) bool { return strings.HasPrefix(a, "smbd") }) {
			return smbd.Systemctl(ctx, c)
		}
		return nfsd.Systemctl(ctx, c)
	})
	for _, tool := range []string{"useradd", "usermod", "chpasswd", "visudo", "testparm"} {
		run.Handle(tool, testkit.Real)
	}
	run.Script("chronyc", fakehost.OK("200 OK\n"))
	nfsd.Enabled[nfs.Service], smbd.Enabled = true, true
	boot := func() {
		nfsd.Table, nfsd.Active, nfsd.Queued = nil, map[string]bool{}, map[string]bool{nfs.Service: true}
		smbd.Active, smbd.Loaded, smbd.Queued = false, "", smbd.Enabled
	}
	boot()
	return &fault.World{Root: root, Runner: run, Boot: boot,
		EarlyDone: func() { nfsd.RunQueued(); smbd.RunQueued() },
		Effects:   func() string { return nfsd.Effects() + smbd.Effects() }}
}

// TestEarlyStageFaults: the comparison's four modules in the early stage,
// all four at the same time (modules.Concurrent: the shared directory
// exists), converge at every fault point in the seed's order and in the
// reverse order (samba first), and end the same in both
// (fault.Scenario.EarlyOrder): what the modules claim about each other
// holds for the real modules.
func TestEarlyStageFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("useradd --root chroots into the root: needs uid 0")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not installed")
	}
	s := testkit.Seed(t, earlySeed)
	mods := []modules.Module{node.New(), users.New(), nfs.New(), samba.New()}
	for _, order := range []struct {
		name string
		pick func([]string) []string
	}{
		{"seed order", func(r []string) []string { return r }},
		{"reversed", func(r []string) []string { r = slices.Clone(r); slices.Reverse(r); return r }},
	} {
		t.Run(order.name, func(t *testing.T) {
			fault.Check(t, fault.Scenario{Seed: s, Modules: mods, NewWorld: earlyWorld, EarlyOrder: order.pick,
				// The shadow tools' backups hold whatever the run before
				// left (users' own fault test); Samba's scratch files.
				Ignore: []string{"/etc/*-", "/run/**"}})
		})
	}
}
