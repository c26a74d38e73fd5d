package nvidia

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/seed"
)

// Store keys. The LXC module reads KeyDevices and KeyVersion.
const (
	KeyPhase   = "nvidia/phase"
	KeyDevices = "nvidia/devices" // map[string]int: /proc/devices name -> major
	KeyVersion = "nvidia/version" // driver version string
	KeyNodes   = "nvidia/nodes"   // the device node unit that was enabled
)

// Phases, in order.
const (
	PhasePrepare = "prepare"
	PhaseInstall = "install"
	PhaseVerify  = "verify"
	PhaseDone    = "done"
)

// Source methods of seed.NVIDIA.Source.
const (
	SourceRunfile  = "runfile"
	SourcePackages = "packages"
)

// Module installs the NVIDIA driver.
type Module struct {
	// Apt makes the apt client; nil is apt.New. Tests replace it to skip
	// the retry backoff.
	Apt func(host.Runner) *apt.Client
}

var _ modules.Module = (*Module)(nil)

// New returns the nvidia module.
func New() *Module { return &Module{} }

func (m *Module) apt(r host.Runner) *apt.Client {
	if m.Apt != nil {
		return m.Apt(r)
	}
	return apt.New(r)
}

// Name implements modules.Module.
func (*Module) Name() string { return "nvidia" }

// Active implements modules.Module.
func (*Module) Active(s *seed.Seed) bool { return s != nil && s.NVIDIA != nil }

// Progress is the module's resumable record (Store key "nvidia/phase").
type Progress struct {
	// Target is what the record is for (version, source and its
	// location); a new target starts over, reboot counts included.
	Target string `json:"target"`
	Phase  string `json:"phase"`
	// Reboots counts the reboots asked for per phase: at most one each.
	// Cleared when the target is done.
	Reboots map[string]int `json:"reboots,omitempty"`
	// RebootBoot is the boot id when the last reboot was asked for; the
	// same id on the next run means that reboot has not happened yet.
	RebootBoot string `json:"reboot_boot,omitempty"`
	// Initramfs is the digest of the blacklist the initramfs was last
	// rebuilt with.
	Initramfs string `json:"initramfs,omitempty"`
	// Persistenced is set once nvidia-persistenced was enabled.
	Persistenced bool `json:"persistenced,omitempty"`
}

func target(c *seed.NVIDIA) string {
	t := c.Version + " " + c.Source
	if rf := c.Runfile; c.Source == SourceRunfile && rf != nil {
		t += " " + rf.URL + rf.File + " " + rf.SHA256 + " " + strings.Join(rf.Flags, " ")
	}
	return t
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// job is one run of Converge, dry (Check, `phoenix plan`) or not (Apply).
// Both runs go through the same steps: every read happens in both, every
// change goes through s.Do, and the record (Progress) is updated in memory
// in both but stored only for real. Where a step's outcome can only be
// read once an earlier change was made (nvidia-smi after the install), a
// dry run takes the change as made.
type job struct {
	env    *modules.Env
	s      *modules.Steps
	cfg    *seed.NVIDIA
	apt    *apt.Client
	p      Progress
	saved  string // p as last stored, to write only on change
	kernel string
	gpus   []GPU
	// brought are the packages this run installs (or, dry, would): a dry
	// run reads them as still missing.
	brought []string
	// driverChange is set once the run lists an install or a load of
	// the driver.
	driverChange bool
}

// Converge implements modules.Module: the three phases (prepare, install,
// verify), each one boot at the most; a phase that needs a reboot asks for
// it and the next run continues from the record.
func (m *Module) Converge(ctx context.Context, s *modules.Steps) error {
	env := s.Env
	// The seed's own rules (one home: seed/nvidia.go), for a seed built in
	// Go rather than loaded; `phoenix validate` reports the same first.
	if err := env.Seed.SectionErr("nvidia"); err != nil {
		return err
	}
	cfg := env.Seed.NVIDIA
	gpus, note, err := gpuCheck(env, cfg)
	if err != nil || note != "" {
		if note != "" {
			s.Note("%s", note)
		}
		return err
	}
	kernel, err := kernelRelease(env.Root)
	if err != nil {
		return err
	}
	j := &job{env: env, s: s, cfg: cfg, apt: m.apt(env.Runner), kernel: kernel, gpus: gpus}
	if err := j.open(); err != nil {
		return err
	}
	if j.p.Phase == PhasePrepare {
		// Refuse Secure Boot before the first reboot, not after it,
		// unless the target driver already runs (signed by the admin).
		if vs, err := smiVersions(ctx, env.Runner); err != nil || sameVersion(vs, cfg.Version, len(gpus)) != nil {
			if err := j.refuseSecureBoot(ctx); err != nil {
				return err
			}
		}
	}
	for _, step := range []func(context.Context) (bool, error){j.prepare, j.install, j.verify} {
		reboot, err := step(ctx)
		if err != nil || reboot {
			return err
		}
	}
	return nil
}

// open reads the record; a new target (a first run, or a reseed with
// another version or source) starts over, with fresh reboot allowances.
func (j *job) open() error {
	if _, err := j.env.Store.Get(KeyPhase, &j.p); err != nil {
		return err
	}
	b, _ := json.Marshal(j.p)
	j.saved = string(b)
	if t := target(j.cfg); j.p.Target != t {
		j.p = Progress{Target: t, Phase: PhasePrepare, Initramfs: j.p.Initramfs}
	}
	if j.p.Reboots == nil {
		j.p.Reboots = map[string]int{}
	}
	return j.save()
}

// save stores the record when it changed, in Apply only.
func (j *job) save() error {
	if j.s.Dry {
		return nil
	}
	b, _ := json.Marshal(j.p)
	if string(b) == j.saved {
		return nil
	}
	if err := j.env.Store.Put(KeyPhase, j.p); err != nil {
		return err
	}
	j.saved = string(b)
	return nil
}

// pending reports whether this is a dry run that listed an install or a
// load of the driver: what it reads of the driver (nvidia-smi, the loaded
// module, /proc/devices) is still the host before that change.
func (j *job) pending() bool { return j.s.Dry && j.driverChange }

// do is s.Do with a formatted description.
func (j *job) do(fn func() error, format string, a ...any) error {
	return j.s.Do(fmt.Sprintf(format, a...), fn)
}

// setPhase records that the run reached phase ph. It never moves back: a
// rerun of a converged host passes through the earlier phases' checks
// without rewriting the record.
func (j *job) setPhase(ph string) error {
	if phaseIndex(ph) > phaseIndex(j.p.Phase) {
		j.p.Phase = ph
	}
	return j.save()
}

func phaseIndex(ph string) int {
	for i, p := range []string{PhasePrepare, PhaseInstall, PhaseVerify, PhaseDone} {
		if p == ph {
			return i
		}
	}
	return -1
}

// reboot asks for the phase's one reboot, recording it first; the reboot
// is listed as a change in both runs. A phase that needs a reboot again
// after its reboot fails with failMsg instead.
func (j *job) reboot(phase, reason, failMsg string) (bool, error) {
	if j.p.Reboots[phase] > 0 {
		if j.env.BootID == "" || j.env.BootID != j.p.RebootBoot {
			return false, errors.New(failMsg + "; not rebooting again")
		}
		// Still the boot that asked: the reboot has not happened yet
		// (the engine stopped before it). Asking again is the same
		// reboot, not a second one.
	} else {
		j.p.Reboots[phase]++
		j.p.RebootBoot = j.env.BootID
		j.p.Phase = phase
		if err := j.save(); err != nil {
			return false, err
		}
	}
	_ = j.s.DoQuiet("reboot: "+reason, nil)
	j.s.RebootFor(reason)
	return true, nil
}

// gpuCheck finds the host's GPUs. With none, it returns the note that
// says why the module skips, or the error when the seed requires a GPU.
func gpuCheck(env *modules.Env, cfg *seed.NVIDIA) (gpus []GPU, note string, err error) {
	all, err := DetectGPUs(env.Root)
	if err != nil {
		return nil, "", err
	}
	gpus = hostGPUs(all)
	if len(gpus) > 0 {
		return gpus, "", nil
	}
	why := "no NVIDIA GPU found (PCI vendor 0x10de, class 0x03xxxx under " + PCIDevices + ")"
	if len(all) > 0 {
		why = fmt.Sprintf("all %d NVIDIA GPUs are bound to vfio-pci (passed through to VMs)", len(all))
	}
	if cfg.RequireGPU {
		return nil, "", fmt.Errorf("%s and require_gpu is set", why)
	}
	return nil, why + ": skipped (require_gpu is false)", nil
}

func (j *job) persistenced() bool { return j.cfg.Persistence == nil || *j.cfg.Persistence }

// module is the DKMS module name of the source.
func (j *job) module() string {
	if j.cfg.Source == SourcePackages {
		return "nvidia-current"
	}
	return "nvidia"
}
