package nvidia

import (
	"context"
	"fmt"
	"strings"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
)

// plan lists what apply would change. It only reads: sysfs, /proc, the Store,
// and read-only queries (apt-cache policy, dpkg-query, dkms status,
// nvidia-smi, mokutil).
func (m *Module) plan(ctx context.Context, env *modules.Env) ([]string, error) {
	cfg := env.Seed.NVIDIA
	gpus, note, err := gpuCheck(env, cfg)
	if err != nil || note != "" {
		return nil, err
	}
	kernel, err := kernelRelease(env.Root)
	if err != nil {
		return nil, err
	}
	var todo []string
	add := func(format string, a ...any) { todo = append(todo, fmt.Sprintf(format, a...)) }
	j := &job{env: env, cfg: cfg, kernel: kernel}

	meta, err := j.metaHeaders(ctx)
	if err != nil {
		return nil, err
	}
	if hdr, err := j.headers(ctx); err != nil {
		add("install kernel headers: %v", err)
	} else if miss, err := m.apt(env.Runner).Missing(ctx, append([]string{hdr, "build-essential", "dkms"}, nonEmpty(meta)...)...); err != nil {
		return nil, err
	} else if len(miss) > 0 {
		add("install %s", strings.Join(miss, " "))
	}
	if b, err := env.Root.ReadFile(BlacklistFile); err != nil || string(b) != blacklistConf {
		add("blacklist nouveau in %s and rebuild the initramfs", BlacklistFile)
	}
	if loaded(env.Root, "nouveau") {
		add("reboot to unload nouveau")
	}

	v := cfg.Version
	vs, smiErr := smiVersions(ctx, env.Runner)
	installed := smiErr == nil && sameVersion(vs, v, len(gpus)) == nil
	if !installed {
		now := "none"
		if smiErr == nil {
			now = strings.Join(vs, ",")
		} else if lv := loadedVersion(env.Root); lv != "" {
			now = lv
		}
		add("install NVIDIA driver %s from %s on %d GPU(s) (nvidia-smi now: %s)", v, cfg.Source, len(gpus), now)
		if on, err := secureBoot(ctx, env.Root, env.Runner); err == nil && on {
			add("Secure Boot is enabled: the install will refuse (unsigned module)")
		}
	}
	if !loaded(env.Root, "nvidia") {
		add("load the nvidia module (a reboot if it cannot be loaded live)")
	}
	mod := "nvidia"
	if cfg.Source == SourcePackages {
		mod = "nvidia-current"
	}
	if dk, err := dkmsStatus(ctx, env.Runner); err != nil || !builtFor(dk, mod, v, kernel) {
		add("build the %s/%s DKMS module for kernel %s", mod, v, kernel)
	}
	if b, err := env.Root.ReadFile(ModulesLoadFile); err != nil || string(b) != modulesLoadConf {
		add("load nvidia and nvidia-uvm at boot (%s)", ModulesLoadFile)
	}
	if !loaded(env.Root, "nvidia_uvm") {
		add("load nvidia-uvm")
	}
	if cfg.Source == SourceRunfile {
		rules, unit := nodesFiles(max(len(gpus), 1))
		if b, err := env.Root.ReadFile(NodesRules); err != nil || string(b) != rules {
			add("make the device nodes at every boot (%s)", NodesRules)
		}
		var enabled string
		if _, err := env.Store.Get(KeyNodes, &enabled); err != nil {
			return nil, err
		}
		if b, err := env.Root.ReadFile(NodesUnit); err != nil || string(b) != unit || enabled != unit {
			add("make the device nodes before pve-guests.service (%s)", NodesUnit)
		}
	}
	var p Progress
	if _, err := env.Store.Get(KeyPhase, &p); err != nil {
		return nil, err
	}
	if j.persistenced() && (!p.Persistenced || p.Target != target(cfg)) {
		add("enable nvidia-persistenced")
	}
	var rec string
	if found, _ := env.Store.Get(KeyVersion, &rec); !found || rec != v || !host.Exists(env.Root, ProcDevices) {
		add("record the nvidia device majors and version for the LXC module")
	}
	return todo, nil
}
