package zfs

import (
	"slices"
	"testing"
)

// The layouts of `zpool status -P -L` below follow OpenZFS's own printer
// (cmd/zpool/zpool_main.c: print_status_config prints "\t%*s" with depth
// growing by 2 per level; print_spares and print_l2cache print a "\tspares"
// or "\tcache" header and their devices at depth 2; print_class_vdevs the
// "logs", "special" and "dedup" headers) and its tests' nesting: a hot spare
// in use that is then replaced gives mirror-0/spare-0/replacing-0
// (tests/zfs-tests/tests/functional/cli_root/zpool_add/
// add_nested_replacing_spare.ksh:84). Distributed spares are named
// draid<parity>-<vdev>-<spare> (module/zfs/vdev_draid.c:1911).
var h4Status = map[string]struct {
	out     string
	members []string
}{
	"replacing in a mirror": {`  pool: tank
 state: DEGRADED
status: One or more devices is currently being resilvered.
config:

	NAME             STATE     READ WRITE CKSUM
	tank             DEGRADED     0     0     0
	  mirror-0       DEGRADED     0     0     0
	    /dev/sdb1    ONLINE       0     0     0
	    replacing-1  DEGRADED     0     0     0
	      /dev/sdc1  FAULTED      0     0     0  too many errors
	      /dev/sdh1  ONLINE       0     0     0  (resilvering)

errors: No known data errors
`, []string{"/dev/sdb1", "/dev/sdc1", "/dev/sdh1"}},
	"spare in use, then replaced (nested)": {`  pool: tank
 state: DEGRADED
config:

	NAME                 STATE     READ WRITE CKSUM
	tank                 DEGRADED     0     0     0
	  raidz1-0           DEGRADED     0     0     0
	    spare-0          DEGRADED     0     0     0
	      replacing-0    DEGRADED     0     0     0
	        /dev/sdd1    UNAVAIL      0     0     0
	        /dev/sdi1    ONLINE       0     0     0  (resilvering)
	      /dev/sde1      ONLINE       0     0     0
	    /dev/sdf1        ONLINE       0     0     0
	    /dev/sdg1        ONLINE       0     0     0
	spares
	  /dev/sde1          INUSE     currently in use
	  /dev/sdj1          AVAIL

errors: No known data errors
`, []string{"/dev/sdd1", "/dev/sdi1", "/dev/sde1", "/dev/sdf1", "/dev/sdg1", "/dev/sdj1"}},
	"draid with a distributed spare in use": {`  pool: dpool
 state: DEGRADED
config:

	NAME                   STATE     READ WRITE CKSUM
	dpool                  DEGRADED     0     0     0
	  draid1:2d:5c:1s-0    DEGRADED     0     0     0
	    /dev/sdb1          ONLINE       0     0     0
	    /dev/sdc1          ONLINE       0     0     0
	    spare-2            DEGRADED     0     0     0
	      /dev/sdd1        FAULTED      0     0     0  too many errors
	      draid1-0-0       ONLINE       0     0     0
	    /dev/sde1          ONLINE       0     0     0
	    /dev/sdf1          ONLINE       0     0     0
	spares
	  draid1-0-0           INUSE     currently in use

errors: No known data errors
`, []string{"/dev/sdb1", "/dev/sdc1", "/dev/sdd1", "/dev/sde1", "/dev/sdf1"}},
	"log, cache, special and dedup vdevs": {`  pool: tank
 state: ONLINE
config:

	NAME               STATE     READ WRITE CKSUM
	tank               ONLINE       0     0     0
	  mirror-0         ONLINE       0     0     0
	    /dev/sdb1      ONLINE       0     0     0
	    /dev/sdc1      ONLINE       0     0     0
	dedup
	  mirror-3         ONLINE       0     0     0
	    /dev/sdk1      ONLINE       0     0     0
	    /dev/sdl1      ONLINE       0     0     0
	special
	  mirror-1         ONLINE       0     0     0
	    /dev/nvme1n1p1 ONLINE       0     0     0
	    /dev/nvme2n1p1 ONLINE       0     0     0
	logs
	  mirror-2         ONLINE       0     0     0
	    /dev/nvme0n1p1 ONLINE       0     0     0
	    /dev/nvme3n1p1 ONLINE       0     0     0
	cache
	  /dev/nvme0n1p2   ONLINE       0     0     0
	spares
	  /dev/sdm1        AVAIL

errors: No known data errors
`, []string{"/dev/sdb1", "/dev/sdc1", "/dev/sdk1", "/dev/sdl1", "/dev/nvme1n1p1", "/dev/nvme2n1p1", "/dev/nvme0n1p1", "/dev/nvme3n1p1", "/dev/nvme0n1p2", "/dev/sdm1"}},
}

// TestH4PoolMembersAtEveryDepth: the disk gate's member list (allDisks)
// holds every device of a pool, whatever vdev it sits under: the review's
// attack was wiping a disk that is resilvering under replacing-N.
func TestH4PoolMembersAtEveryDepth(t *testing.T) {
	for name, c := range h4Status {
		t.Run(name, func(t *testing.T) {
			ps := parsePools(c.out)
			if len(ps) != 1 {
				t.Fatalf("%d pools", len(ps))
			}
			got := ps[0].allDisks()
			for _, m := range c.members {
				if !slices.Contains(got, m) {
					t.Errorf("member %s missing from %q", m, got)
				}
			}
			for _, g := range got {
				if vdevType(g) != "" {
					t.Errorf("vdev name %s counted as a disk", g)
				}
			}
		})
	}
}
