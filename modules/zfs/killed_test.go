package zfs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/bootstrap/host/fakehost"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/testkit"
	"github.com/phoenix-pve/phoenix/modules/zfs"
)

// creatingFile is the Store record of started creates (zfs/creating).
const creatingFile = modules.StoreDir + "/zfs/creating.json"

const mirrorBC = "zfs:\n  pools:\n    - {name: tank, layout: mirror, disks: [/dev/disk/by-id/ata-DISK_B, /dev/disk/by-id/ata-DISK_C]}\n"

// killCreate makes the next `zpool create` die part way, as a power cut
// did in the e2e VM: its disks partitioned (labelled or not), no pool.
// The other zpool calls go to the fake.
func (e *env) killCreate(labelled bool, disks ...string) {
	real := e.world.Handlers()["zpool"]
	e.run.Handle("zpool", func(ctx context.Context, c fakehost.Call) fakehost.Result {
		if len(c.Cmd.Args) > 0 && c.Cmd.Args[0] == "create" {
			for _, d := range disks {
				must(e.t, e.world.KilledCreate(d, labelled))
			}
			e.world.Register(e.run) // the next boot's zpool is whole again
			return fakehost.Fail(137, "Killed")
		}
		return real(ctx, c)
	})
}

// TestKilledCreateResumed: a `zpool create` killed after it partitioned
// the disks (with and without its labels) left no pool and a record of
// the create: the next run erases what it left on those disks, without
// wipe: true, and creates the pool; Check lists that first and changes
// nothing.
func TestKilledCreateResumed(t *testing.T) {
	for _, labelled := range []bool{false, true} {
		name := "unlabelled"
		if labelled {
			name = "labelled"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			s := testkit.Seed(t, mirrorBC)
			e.killCreate(labelled, "sdb", "sdc")
			if _, err := e.apply(s); err == nil || !strings.Contains(err.Error(), "create pool \"tank\"") {
				t.Fatalf("killed create: err = %v", err)
			}
			if !host.Exists(e.root, creatingFile) {
				t.Fatalf("no record of the started create in %s", creatingFile)
			}
			before := e.world.Effects()
			changes, err := e.check(s)
			if err != nil {
				t.Fatalf("check after the kill: %v", err)
			}
			if e.world.Effects() != before || len(writes(e.run.Log())) > 0 {
				t.Errorf("check changed something:\n%s", e.run.Log())
			}
			for _, want := range []string{"wipe disk /dev/disk/by-id/ata-DISK_B (sdb) for pool tank", "wipe disk /dev/disk/by-id/ata-DISK_C (sdc) for pool tank", "create pool tank"} {
				if !slices.ContainsFunc(changes, func(c string) bool { return strings.HasPrefix(c, want) }) {
					t.Errorf("check lists %q, want a change %q", changes, want)
				}
			}
			res, err := e.apply(s)
			if err != nil {
				t.Fatalf("run after the kill: %v", err)
			}
			want := []string{
				"wipefs -a /dev/sdb1", "wipefs -a /dev/sdb9", "wipefs -a /dev/disk/by-id/ata-DISK_B", "sgdisk --zap-all /dev/disk/by-id/ata-DISK_B",
				"wipefs -a /dev/sdc1", "wipefs -a /dev/sdc9", "wipefs -a /dev/disk/by-id/ata-DISK_C", "sgdisk --zap-all /dev/disk/by-id/ata-DISK_C",
			}
			got := destructive(e.run.Log())
			if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) || !strings.HasPrefix(got[len(want)], "zpool create ") {
				t.Errorf("destructive calls:\n%s\nwant\n%s\nthen zpool create", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, want := range []string{"pool tank: the create started", "pool tank: erasing what the interrupted create left"} {
				if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, want) }) {
					t.Errorf("notes %q lack %q", res.Notes, want)
				}
			}
			if host.Exists(e.root, creatingFile) {
				t.Errorf("%s left after the create finished", creatingFile)
			}
			if _, err := e.apply(s); err != nil || len(destructive(e.run.Log())) > 0 {
				t.Errorf("third run: err %v, destructive %q", err, destructive(e.run.Log()))
			}
		})
	}
}

// TestKilledCreateStaysGuarded: the record admits only what zpool itself
// left, on the disks it was started on. The same partitions without a
// record, a disk the record does not name, or a leftover partition that
// now holds a filesystem are refused as before.
func TestKilledCreateStaysGuarded(t *testing.T) {
	// killed: a create of mirrorBC killed after partitioning sdb and sdc.
	killed := func(e *env) {
		e.killCreate(false, "sdb", "sdc")
		if _, err := e.apply(testkit.Seed(e.t, mirrorBC)); err == nil {
			e.t.Fatal("killed create succeeded")
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		seed    string
		want    []string
		notWant string
	}{
		{"no record", func(e *env) {
			must(e.t, e.world.KilledCreate("sdb", false))
			must(e.t, e.world.KilledCreate("sdc", true))
		}, mirrorBC, []string{"carries partitions sdb1, sdb9 (set wipe: true"}, ""},
		// The seed now puts the pool on sdb and sdg, which carries the same
		// partitions: the record was for sdb and sdc together.
		{"other disks", func(e *env) {
			killed(e)
			must(e.t, e.world.KilledCreate("sdg", false))
		}, strings.Replace(mirrorBC, "ata-DISK_C", "ata-DISK_G", 1), []string{"(sdb) carries partitions", "(sdg) carries partitions"}, ""},
		{"filesystem since", func(e *env) {
			killed(e)
			// An admin's mkfs.ext4 /dev/sdb1 since (there is no mkfs fake).
			for _, d := range e.world.S.Disks {
				if d.Name == "sdb" {
					d.Children[0].FSType = "ext4"
				}
			}
		}, mirrorBC, []string{"(sdb) carries partitions sdb1, sdb9"}, "(sdc)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			_, err := e.apply(testkit.Seed(t, tc.seed))
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q", err, w)
				}
			}
			if tc.notWant != "" && err != nil && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("err = %v, names %s too", err, tc.notWant)
			}
			if d := destructive(e.run.Log()); len(d) > 0 {
				t.Errorf("destructive calls: %q", d)
			}
		})
	}
}

// TestKilledAfterCreate: killed after `zpool create` returned but before
// the pool's import unit was enabled. The next run adopts the pool and
// finishes: it enables the unit and forgets the record.
func TestKilledAfterCreate(t *testing.T) {
	e := newEnv(t)
	must(t, e.root.WriteFile(zfs.ImportUnitTemplate, []byte("[Unit]\n"), 0o644, host.Owner{}))
	e.run.Handle("systemctl", func(context.Context, fakehost.Call) fakehost.Result { return fakehost.Fail(137, "Killed") })
	s := testkit.Seed(t, mirrorBC)
	if _, err := e.apply(s); err == nil {
		t.Fatal("killed systemctl: no error")
	}
	e.run.Handle("systemctl", func(context.Context, fakehost.Call) fakehost.Result { return fakehost.OK("") })
	if _, err := e.apply(s); err != nil {
		t.Fatal(err)
	}
	log := strings.Split(e.run.Log(), "\n")
	if !slices.Contains(log, "systemctl enable zfs-import@tank.service") || len(destructive(e.run.Log())) > 0 {
		t.Errorf("second run:\n%s", e.run.Log())
	}
	if host.Exists(e.root, creatingFile) {
		t.Errorf("%s left after the creation finished", creatingFile)
	}
}

// TestKilledCreateBeforeLabels: killed before zpool wrote anything (the
// e2e VM's first power cut, 0.12 s into `zpool create`): the disks are
// blank, so the next run creates the pool with nothing to erase.
func TestKilledCreateBeforeLabels(t *testing.T) {
	e := newEnv(t)
	s := testkit.Seed(t, mirrorBC)
	e.killCreate(false)
	if _, err := e.apply(s); err == nil {
		t.Fatal("killed create: no error")
	}
	res, err := e.apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if d := destructive(e.run.Log()); len(d) != 1 || !strings.HasPrefix(d[0], "zpool create ") {
		t.Errorf("destructive calls %q, want only zpool create", d)
	}
	notes := strings.Join(res.Notes, "\n")
	if !strings.Contains(notes, "the create started") || strings.Contains(notes, "erasing") {
		t.Errorf("notes %q", res.Notes)
	}
}
