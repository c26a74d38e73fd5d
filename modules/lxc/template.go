package lxc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/modules"
	"github.com/phoenix-pve/phoenix/modules/internal/fetch"
	"github.com/phoenix-pve/phoenix/seed"
)

// templates makes sure each template is fetched once per run, even when
// several containers that use it are created concurrently.
type templates struct {
	mu      sync.Mutex
	updated bool
	locks   map[string]*sync.Mutex
	// fetched are the volids this run fetched (or, dry, listed).
	fetched map[string]bool
}

func (t *templates) isFetched(volid string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fetched[volid]
}

// setFetched records volid as fetched; the caller holds its lock.
func (t *templates) setFetched(volid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fetched == nil {
		t.fetched = map[string]bool{}
	}
	t.fetched[volid] = true
}

func (t *templates) lock(volid string) func() {
	t.mu.Lock()
	if t.locks == nil {
		t.locks = map[string]*sync.Mutex{}
	}
	l := t.locks[volid]
	if l == nil {
		l = &sync.Mutex{}
		t.locks[volid] = l
	}
	t.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// templateVolid is the volume a container is created from:
// "storage:vztmpl/name". A bare name is on storage "local"; a URL or seed
// file lands on the storage named in template, else "local".
func templateVolid(c *seed.Container) (string, error) {
	name := ""
	switch {
	case c.TemplateURL != "":
		name = path.Base(c.TemplateURL)
		if i := strings.IndexAny(name, "?#"); i >= 0 {
			name = name[:i]
		}
	case c.TemplateFile != "":
		name = path.Base(c.TemplateFile)
	}
	t := c.Template
	if name != "" {
		store := "local"
		if s, _, ok := strings.Cut(t, ":"); ok {
			store = s
		}
		return store + ":vztmpl/" + name, nil
	}
	if t == "" {
		return "", errors.New("no template (set template, template_url, template_file or clone_from)")
	}
	if !strings.Contains(t, ":") {
		return "local:vztmpl/" + t, nil
	}
	return t, nil
}

// ensureTemplate puts the container's template in place (one change,
// listed through x.do) and returns its volid. Each volid is fetched once
// per run, also in a dry run that lists the fetch.
func (m *Module) ensureTemplate(ctx context.Context, x *pass, c *seed.Container) (string, error) {
	env, t := x.r.env, &x.r.tmpl
	volid, err := templateVolid(c)
	if err != nil {
		return "", err
	}
	defer t.lock(volid)()
	if t.isFetched(volid) {
		return volid, nil
	}
	out, err := env.Runner.Run(ctx, host.Cmd{Name: PvesmCmd, Args: []string{"path", volid}})
	if err != nil {
		return "", fmt.Errorf("template %s: %w", volid, err)
	}
	file := strings.TrimSpace(string(out.Stdout))
	if host.Exists(env.Root, file) {
		if err := verify(env.Root, file, c.TemplateSHA256); err != nil {
			return "", fmt.Errorf("template %s: %w", volid, err)
		}
		return volid, nil
	}
	err = x.do("fetch template "+volid, func() error {
		store, vol, _ := strings.Cut(volid, ":")
		name := strings.TrimPrefix(vol, "vztmpl/")
		var err error
		switch {
		case c.TemplateFile != "":
			err = m.copyBundle(env, c.TemplateFile, file, c.TemplateSHA256)
		case c.TemplateURL != "":
			err = download(ctx, env, c.TemplateURL, file, c.TemplateSHA256)
		default:
			err = t.pveam(ctx, env.Runner, store, name)
			if err == nil {
				err = verify(env.Root, file, c.TemplateSHA256)
				if err != nil {
					_ = env.Root.Remove(file) // a bad download must not be reused
				}
			}
		}
		if err != nil {
			return fmt.Errorf("template %s: %w", volid, err)
		}
		return nil
	})
	if err == nil {
		t.setFetched(volid)
	}
	return volid, err
}

// pveam downloads a template from the Proxmox catalog, after one
// `pveam update` per run.
func (t *templates) pveam(ctx context.Context, r host.Runner, store, name string) error {
	t.mu.Lock()
	if !t.updated {
		if _, err := r.Run(ctx, host.Cmd{Name: PveamCmd, Args: []string{"update"}}); err != nil {
			t.mu.Unlock()
			return err
		}
		t.updated = true
	}
	t.mu.Unlock()
	_, err := r.Run(ctx, host.Cmd{Name: PveamCmd, Args: []string{"download", store, name}})
	return err
}

// verify checks a file (an in-root path) against a sha256 hex digest (""
// skips the check).
func verify(root host.Root, file, want string) error {
	if want == "" {
		return nil
	}
	return fetch.Verify(root.Path(file), want)
}

// bundlePath resolves a seed-volume relative path inside the bundle.
func bundlePath(env *modules.Env, rel string) (string, error) {
	if env.Bundle == "" {
		return "", fmt.Errorf("%s: no seed bundle", rel)
	}
	if path.IsAbs(rel) || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s: must be a relative path on the seed volume", rel)
	}
	return filepath.Join(env.Bundle, rel), nil
}

// copyBundle copies a template from the seed bundle into the cache, through
// a temp file that is renamed only after the checksum matched.
func (m *Module) copyBundle(env *modules.Env, rel, file, sum string) error {
	src, err := bundlePath(env, rel)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return install(env.Root, f, file, sum)
}

// download fetches a template URL into the cache (file, an in-root path)
// with curl, keeping it only once it matches sum, which is required.
func download(ctx context.Context, env *modules.Env, u, file, sum string) error {
	if sum == "" {
		return fmt.Errorf("%s: template_url needs template_sha256", u)
	}
	if err := env.Root.MkdirAll(path.Dir(file), 0o755, host.Owner{}); err != nil {
		return err
	}
	return fetch.Download(ctx, env.Runner, u, env.Root.Path(file), sum)
}

// install streams r into file (an in-root path) via a temp file, checking
// the sha256 before the rename.
func install(root host.Root, r io.Reader, file, sum string) error {
	if err := root.MkdirAll(path.Dir(file), 0o755, host.Owner{}); err != nil {
		return err
	}
	real := root.Path(file)
	tmp, err := os.CreateTemp(filepath.Dir(real), ".phoenix-"+filepath.Base(real)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && !strings.EqualFold(got, strings.TrimPrefix(sum, "sha256:")) {
		return &fetch.MismatchError{File: file, Got: got, Want: sum}
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), real)
}
