# The real-boot end-to-end test and the demo: debootstrapped Debian 13
# trixie (PVE 9's base) and 12 bookworm (PVE 8's) booted under qemu TCG
# (see docs/e2e.md). Included by the Makefile. Both need root,
# qemu-system-x86, debootstrap, e2fsprogs, xorriso, dosfstools, mtools,
# python3 and procps, and change nothing else on the host: the guest
# roots, their ZFS modules (built in a chroot) and the runs are cached
# under build/vm.
# (procps: pkill, which ends a guest whose kernel crashed.)
VM_DEBS := qemu-system-x86 debootstrap e2fsprogs xorriso dosfstools mtools python3 procps

.PHONY: e2e demo compare vm-deps vm-image e2e-answer powercut

# vm-deps installs VM_DEBS only, not the unit tests' TEST_DEBS: the demo
# needs no Samba, lintian or shells on the host (Samba's package would
# start smbd there).
vm-deps:
	@$(MAKE) --no-print-directory deps TEST_DEBS= EXTRA_DEBS="$(VM_DEBS)"

# vm-image builds (or reuses) the cached trixie root with its ZFS modules.
vm-image: vm-deps
	testdata/vm/build-image.sh trixie build/vm/trixie

# e2e: every scenario (full provisioning with a reboot, further boot,
# reseed, failing seed, USB stick, first-boot hook, cloud-init comparison,
# dpkg-installed package; seed from an answer server; three power cuts;
# the comparison again on bookworm); exits non-zero on any FAIL. The power
# cuts follow plan 11 (POWERCUT_SEED): a kill during `zpool create` first,
# the cut that once left a pool's disks unusable (docs/perf/powercut.md).
e2e: build vm-deps deb e2e-answer
	BIN=$(BIN) ANSWER_BIN=bin/e2e-answer POWERCUT_SEED=$${POWERCUT_SEED:-11} POWERCUT_KILLS=$${POWERCUT_KILLS:-3} \
		testdata/vm/e2e.sh

# e2e-answer: the answer server the answer scenario runs on the loopback
# (testdata/vm/answer; testdata is outside ./..., so it is built by name).
e2e-answer: gocheck
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/e2e-answer ./testdata/vm/answer

# compare: only the Phoenix / cloud-init / plain-boot comparison, three
# runs back to back (E2E_COMPARE_RUNS), medians and the load during each
# boot in the report (docs/perf/e2e.md). `make e2e` runs it once.
compare: build vm-deps
	E2E_COMPARE_RUNS=$${E2E_COMPARE_RUNS:-3} BIN=$(BIN) testdata/vm/e2e.sh --only $${E2E_ONLY:-compare}

# demo: provision the full seed on trixie with a live per-module view, then
# print `phoenix status` from inside the guest and where the console log is.
demo: build vm-deps
	BIN=$(BIN) testdata/vm/e2e.sh --demo

# powercut: the full seed provisioned through power cuts (SIGKILL of qemu at
# chosen moments, chained on one disk, then the converging boot and its
# checks; testdata/vm/powercut.sh). KILLS (default 20), CHAIN (kills per
# disk, default 4), SEED (replays a run's plan). Its own run directory, so
# it leaves build/vm/run (make e2e's report) alone.
powercut: build vm-deps
	BIN=$(BIN) RUN=$${RUN:-build/vm/run-powercut} POWERCUT_KILLS=$(or $(KILLS),20) POWERCUT_CHAIN=$(or $(CHAIN),4) \
		$(if $(SEED),POWERCUT_SEED=$(SEED)) testdata/vm/e2e.sh --only powercut
