package lxc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/apt"
	"github.com/phoenix-pve/phoenix/seed"
)

// step is one recorded provisioning step inside a container.
type step struct {
	id  string
	run func(ctx context.Context) error
}

// BasePackages are what the base feature installs.
var BasePackages = []string{"ca-certificates", "curl", "gnupg", "locales"}

// DefaultLocale is the base feature's locale when the seed names none.
const DefaultLocale = "en_US.UTF-8"

// NVIDIA's container toolkit apt repository.
const (
	toolkitKeyURL = "https://nvidia.github.io/libnvidia-container/gpgkey"
	toolkitKey    = "/usr/share/keyrings/nvidia-container-toolkit.asc"
	toolkitList   = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"
	toolkitRepo   = "deb [signed-by=" + toolkitKey + "] https://nvidia.github.io/libnvidia-container/stable/deb/amd64 /\n"
)

// runfileURL is where NVIDIA publishes a driver version's .run installer.
func runfileURL(v string) string {
	return fmt.Sprintf("https://us.download.nvidia.com/XFree86/Linux-x86_64/%s/NVIDIA-Linux-x86_64-%s.run", v, v)
}

// steps lists c's provisioning steps in order. Step ids carry what makes
// a rerun necessary: the package list, the driver version, the script's
// digest and arguments.
func (m *Module) steps(r *run, c *ct) []step {
	pr := c.C.Provision
	if pr == nil {
		return nil
	}
	ar := apt.New(inCT{run: r.env.Runner, id: c.ID})
	ar.Sleep = m.sleep
	in := inCTSteps{r: r, c: c, pr: pr, ar: ar}
	var out []step
	if slices.Contains(pr.Features, "base") {
		out = append(out, step{"feature:base", in.base})
	}
	if len(pr.Packages) > 0 {
		pk := append([]string(nil), pr.Packages...)
		sort.Strings(pk)
		out = append(out, step{"packages:" + short(strings.Join(pk, " ")), func(ctx context.Context) error {
			_, err := ar.Install(ctx, pk...)
			return err
		}})
	}
	for _, f := range pr.Features {
		switch f {
		case "nvidia":
			var ver string
			_, _ = r.env.Store.Get(VersionKey, &ver)
			out = append(out, step{"feature:nvidia:" + ver, func(ctx context.Context) error { return in.nvidia(ctx, ver) }})
		case "docker":
			id := "feature:docker"
			if len(c.C.GPUs) > 0 {
				id += "+nvidia-container-toolkit"
			}
			out = append(out, step{id, in.docker})
		}
	}
	for _, s := range pr.Scripts {
		out = append(out, m.scriptStep(r, c.ID, s.File, s.Args))
	}
	return out
}

// inCTSteps are the built-in provisioning steps of one container: apt and
// commands run inside it.
type inCTSteps struct {
	r  *run
	c  *ct
	pr *seed.Provision
	ar *apt.Client
}

// ex runs argv inside the container.
func (in inCTSteps) ex(ctx context.Context, stdin []byte, argv ...string) error {
	_, err := in.r.pct.exec(ctx, in.c.ID, stdin, argv...)
	return err
}

// base is the base feature: packages and the locale.
func (in inCTSteps) base(ctx context.Context) error {
	pr, ar, ex := in.pr, in.ar, in.ex
	loc := pr.Locale
	if loc == "" {
		loc = DefaultLocale
	}
	input, ok := seed.UTF8Locale(loc)
	if !ok {
		return fmt.Errorf("locale %q: want a UTF-8 locale like en_US.UTF-8", loc)
	}
	if err := ar.Update(ctx); err != nil {
		return err
	}
	if _, err := ar.Install(ctx, BasePackages...); err != nil {
		return err
	}
	if err := ex(ctx, nil, "localedef", "-i", input, "-f", "UTF-8", loc); err != nil {
		return err
	}
	return ex(ctx, nil, "update-locale", "LANG="+loc)
}

// nvidia is the nvidia feature: the userspace part of the host's driver
// version ver, from the seed bundle or NVIDIA's download.
func (in inCTSteps) nvidia(ctx context.Context, ver string) error {
	env, r, id, ex := in.r.env, in.r, in.c.ID, in.ex
	if ver == "" {
		return fmt.Errorf("the host's driver version is unknown (store key %s): the nvidia module runs first", VersionKey)
	}
	dst := fmt.Sprintf("/root/NVIDIA-Linux-x86_64-%s.run", ver)
	if rf := env.Seed.NVIDIA; rf != nil && rf.Runfile != nil && rf.Runfile.File != "" && rf.Version == ver {
		src, err := bundlePath(env, rf.Runfile.File)
		if err != nil {
			return err
		}
		if _, err := r.pct.do(ctx, "push", strconv.Itoa(id), src, dst); err != nil {
			return err
		}
	} else {
		u, sum := runfileURL(ver), ""
		if rf := env.Seed.NVIDIA; rf != nil && rf.Runfile != nil && rf.Runfile.URL != "" && rf.Version == ver {
			u, sum = rf.Runfile.URL, rf.Runfile.SHA256
		}
		if err := ex(ctx, nil, "curl", "-fsSL", "-o", dst, u); err != nil {
			return err
		}
		if sum != "" {
			// The seed's checksum holds inside too: nothing
			// unverified gets run.
			if err := ex(ctx, []byte(sum+"  "+dst+"\n"), "sha256sum", "-c"); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
		}
	}
	// The kernel module is the host's: only the userspace
	// part goes into the container.
	return ex(ctx, nil, "/bin/sh", dst, "--silent", "--no-kernel-module", "--no-questions", "--ui=none")
}

// docker is the docker feature, with NVIDIA's container toolkit when the
// container has GPUs.
func (in inCTSteps) docker(ctx context.Context) error {
	ar, ex, gpu := in.ar, in.ex, len(in.c.C.GPUs) > 0
	if err := ar.Update(ctx); err != nil {
		return err
	}
	if _, err := ar.Install(ctx, "docker.io"); err != nil {
		return err
	}
	if !gpu {
		return nil
	}
	if err := ex(ctx, nil, "curl", "-fsSL", "-o", toolkitKey, toolkitKeyURL); err != nil {
		return err
	}
	if err := ex(ctx, []byte(toolkitRepo), "tee", toolkitList); err != nil {
		return err
	}
	if err := ar.Update(ctx); err != nil {
		return err
	}
	if _, err := ar.Install(ctx, "nvidia-container-toolkit"); err != nil {
		return err
	}
	if err := ex(ctx, nil, "nvidia-ctk", "runtime", "configure", "--runtime=docker"); err != nil {
		return err
	}
	// An unprivileged container cannot manage device cgroups.
	if err := ex(ctx, nil, "nvidia-ctk", "config", "--set", "nvidia-container-cli.no-cgroups=true", "--in-place"); err != nil {
		return err
	}
	return ex(ctx, nil, "systemctl", "restart", "docker")
}

// scriptStep pushes a seed script into the container and runs it with
// /bin/sh. Its id holds the script's digest and arguments, so an edited
// script runs again and an unchanged one does not.
func (m *Module) scriptStep(r *run, id int, file string, args []string) step {
	env := r.env
	src, perr := bundlePath(env, file)
	digest := "unreadable"
	if perr == nil {
		if b, err := os.ReadFile(src); err == nil {
			digest = short(string(b) + "\x00" + strings.Join(args, "\x00"))
		} else {
			perr = err
		}
	}
	return step{"script:" + file + ":" + digest, func(ctx context.Context) error {
		if perr != nil {
			return perr
		}
		dst := "/root/phoenix-" + path.Base(file)
		if _, err := r.pct.do(ctx, "push", strconv.Itoa(id), src, dst, "--perms", "0755"); err != nil {
			return err
		}
		_, err := r.pct.exec(ctx, id, nil, append([]string{"/bin/sh", dst}, args...)...)
		return err
	}}
}

func short(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// doneSteps is the set of steps a container has: its own and those
// inherited from its clone source's snapshot.
func doneSteps(s *modules.Store, id int, rec record) (map[string]bool, error) {
	var steps []string
	if _, err := s.Get(stepsKey(id), &steps); err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, x := range append(steps, rec.Inherited...) {
		done[x] = true
	}
	return done, nil
}

func addStep(s *modules.Store, id int, step string) error {
	var steps []string
	if _, err := s.Get(stepsKey(id), &steps); err != nil {
		return err
	}
	if slices.Contains(steps, step) {
		return nil
	}
	return s.Put(stepsKey(id), append(steps, step))
}

func parseInterval(s string) (time.Duration, error) {
	if s == "" {
		return 5 * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("health_check interval %q: want a duration like 5s", s)
	}
	return d, nil
}
