// Package fault is the fault-injection harness every module's tests use to
// prove that Apply is idempotent and resumable. Check runs a seed through
// the real engine once without faults, then once per injection point: the
// k-th command fails, the process "crashes" right after the k-th command,
// or it crashes right after the k-th file write. After each fault it reruns
// without faults (across simulated reboots) until the seed is done, and
// compares the final Root and the World's external effects with the
// fault-free run's.
package fault

// Typical use in a module's tests:
//
//	func TestFaults(t *testing.T) {
//		fault.Check(t, fault.Scenario{
//			Seed:    mySeed,
//			Modules: []modules.Module{zfs.New()},
//			NewWorld: func(t testing.TB) *fault.World {
//				pools := zfsfake.New()
//				r := fakehost.New()
//				r.Handle("zpool", pools.Zpool)
//				return &fault.World{Root: host.NewDirRoot(t.TempDir()), Runner: r, Effects: pools.Dump}
//			},
//		})
//	}
//
// What is compared: every file and symlink under the Root (content, mode,
// owner) except the engine's volatile records (status, cursor, completion,
// logs, /run, /proc) and Scenario.Ignore; markers by their digest only;
// directories only when they hold a file; and World.Effects(). After the
// fault-free run every active module's Check must also report converged.
// A module's Store is compared like any file: delete phase keys a module
// no longer needs when it finishes.
//
// A simulated crash is a power loss: the engine stops right there (nothing
// after the fault runs) and World.Boot is called before the next run. While
// Check runs, new host.DirRoots skip fsync (host.SetDefaultSync): the
// crashes are simulated, and fsync would dominate the run time.
//
// The early stage (Scenario.EarlyOrder): every boot runs the early stage,
// then the network stage. Modules that may run at the same time there
// (modules.Concurrent) run one at a time in the order EarlyOrder picks, so
// that every injection point repeats; Run also compares the fault-free end
// state of that order with the seed's order's, which a module that claims
// to be independent of one whose work it reads fails.
