package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
)

// Well-known in-root paths. Tests and --root prefix them through the Root.
const (
	StateDir       = "/var/lib/phoenix"
	MarkerDir      = StateDir + "/markers"
	StatusFile     = StateDir + "/status.json"
	CursorFile     = StateDir + "/cursor.json"
	InProgressFile = StateDir + "/inprogress.json"
	// BundleDir is where the files a seed refers to are copied, so modules
	// can read them after the seed volume is gone.
	BundleDir = StateDir + "/bundle"
	// CompletionFile exists once every module of a seed has finished. Seed
	// sources read it (by path, to avoid an import cycle) to stop trusting
	// unsigned labelled volumes after the first completion.
	CompletionFile = StateDir + "/done.json"
	LogDir         = "/var/log/phoenix"
	LogFile        = LogDir + "/phoenix.log"
	LockFile       = "/run/phoenix.lock"
	// EarlyDoneFile is written (on /run, so it lasts one boot) when the
	// early stage completed the whole seed: phoenix.service, which would
	// only find every module done, is then skipped by its
	// ConditionPathExists=! instead of starting a process on the way to
	// multi-user.target.
	EarlyDoneFile = "/run/phoenix/early-done"
	// DisabledFile, when present, stops `phoenix run` before it does
	// anything (the kernel command line phoenix.disable does the same).
	DisabledFile = "/etc/phoenix/disabled"
	MotdFile     = "/run/motd.d/phoenix"
	IssueFile    = "/etc/issue.d/phoenix.issue"
	// BootIDFile is read through the Root so that tests (and the fake
	// systemctl of the CLI tests) can simulate a reboot by changing it.
	BootIDFile = "/proc/sys/kernel/random/boot_id"
)

// SeedCopy is the in-root path of the 0600 seed copy for a seed file name.
func SeedCopy(name string) string {
	if strings.HasSuffix(name, ".json") {
		return StateDir + "/seed.json"
	}
	return StateDir + "/seed.yaml"
}

// MarkerFile is the marker of module name.
func MarkerFile(name string) string { return path.Join(MarkerDir, name+".json") }

// Marker records that a module finished for a given seed section.
type Marker struct {
	Module   string    `json:"module"`
	Digest   string    `json:"digest"` // seed.SectionDigest of the module's section
	Version  string    `json:"version"`
	BootID   string    `json:"boot_id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Reboots  int       `json:"reboots,omitempty"`
	Changed  []string  `json:"changed,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	// Commands is the module's external commands: count, time, slowest.
	Commands *Commands `json:"commands,omitempty"`
}

// InProgress is written before a module's Apply and removed after its
// marker: finding one at start means the last run died inside that module.
// The early stage writes one for all its modules, which may run at the
// same time: Module is the first, Alongside the others.
type InProgress struct {
	Module    string    `json:"module"`
	Digest    string    `json:"digest"`
	BootID    string    `json:"boot_id"`
	Started   time.Time `json:"started"`
	Alongside []string  `json:"alongside,omitempty"`
}

// Cursor is the reboot cursor: which module asked for a reboot in which
// boot, and how many reboots each module has asked for since its last
// marker (the reboot-loop guard counts these).
type Cursor struct {
	Module    string         `json:"module,omitempty"`
	BootID    string         `json:"boot_id,omitempty"` // boot in which the reboot was requested
	Reason    string         `json:"reason,omitempty"`
	Requested time.Time      `json:"requested,omitzero"`
	Reboots   map[string]int `json:"reboots,omitempty"`
	// Started keeps when a rebooting module first started, so its marker
	// and status show the whole duration.
	Started map[string]time.Time `json:"started,omitempty"`
	// Commands keeps a rebooting module's command times from before its
	// reboots, so its record covers the whole run.
	Commands map[string]*Commands `json:"commands,omitempty"`
}

// Completion is the record of a finished seed.
type Completion struct {
	Finished   time.Time `json:"finished"`
	BootID     string    `json:"boot_id"`
	Version    string    `json:"version"`
	SeedDigest string    `json:"seed_digest"`
}

// readJSON decodes p into v; a missing file reports found=false.
func readJSON(r host.Root, p string, v any) (bool, error) {
	b, err := r.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", p, err)
	}
	return true, nil
}

// writeJSON replaces p atomically and durably. State records are 0600:
// they name users, pools and commands.
func writeJSON(r host.Root, p string, v any) error { return putJSON(r, p, v, true) }

// putJSON is writeJSON, or with durable false the same replace without
// fsync (host.WriteVolatile).
func putJSON(r host.Root, p string, v any, durable bool) error {
	b, err := marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if !durable {
		return host.WriteVolatile(r, p, b, 0o600, host.Owner{})
	}
	return r.WriteFile(p, b, 0o600, host.Owner{})
}

// marshal is indented JSON without HTML escaping: status shows commands
// like "pdbedit -i smbpasswd <stdin>" and people read it.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return b.Bytes(), err
}

func removeIfExists(r host.Root, p string) error {
	if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ReadMarkers returns every module marker in root, by module name.
func ReadMarkers(r host.Root) (map[string]Marker, error) {
	ents, err := r.ReadDir(MarkerDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Marker{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]Marker{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		var m Marker
		if _, err := readJSON(r, MarkerFile(name), &m); err != nil {
			return nil, err
		}
		out[name] = m
	}
	return out, nil
}

// Clean forgets the markers of the named modules (all when names is empty),
// plus the reboot cursor, in-progress and completion records, so the next
// run does that work again. It reports what it removed. Module stores
// (/var/lib/phoenix/data) are kept: they are the modules' own view of what
// exists on the host.
func Clean(r host.Root, names ...string) ([]string, error) {
	var removed []string
	if len(names) == 0 {
		ms, err := ReadMarkers(r)
		if err != nil {
			return nil, err
		}
		for n := range ms {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/.") {
			return removed, fmt.Errorf("clean: bad module name %q", n)
		}
		p := MarkerFile(n)
		if host.Exists(r, p) {
			if err := r.Remove(p); err != nil {
				return removed, fmt.Errorf("clean: %w", err)
			}
			removed = append(removed, p)
		}
	}
	var cur Cursor
	if _, err := readJSON(r, CursorFile, &cur); err == nil && cur.Reboots != nil {
		for _, n := range names {
			delete(cur.Reboots, n)
			delete(cur.Started, n)
		}
	}
	// The completion record is also the trust anchor of hosts that
	// completed before TrustAnchorFile existed: keep the trust before
	// removing the record, so a clean never reopens the window for
	// unsigned sticks (security review M2).
	if host.Exists(r, CompletionFile) {
		if err := writeTrustAnchor(r); err != nil {
			return removed, fmt.Errorf("clean: %w", err)
		}
	}
	for _, p := range []string{CompletionFile, InProgressFile} {
		if host.Exists(r, p) {
			if err := r.Remove(p); err != nil {
				return removed, fmt.Errorf("clean: %w", err)
			}
			removed = append(removed, p)
		}
	}
	if host.Exists(r, CursorFile) {
		if err := writeJSON(r, CursorFile, Cursor{Reboots: cur.Reboots, Started: cur.Started}); err != nil {
			return removed, fmt.Errorf("clean: %w", err)
		}
	}
	// Keep status.json truthful: the forgotten modules are pending again.
	if st, found, err := ReadStatus(r); err == nil && found {
		for _, n := range names {
			if ms := st.Module(n); ms != nil && ms.State != Skipped {
				ms.State, ms.Detail, ms.Failure = Pending, "marker removed by phoenix clean", nil
			}
		}
		failed := false
		for _, m := range st.Modules {
			failed = failed || m.State == Failed
		}
		if st.State == Done || (st.State == Failed && !failed) {
			st.State, st.Error = Pending, ""
		}
		if err := writeJSON(r, StatusFile, st); err != nil {
			return removed, fmt.Errorf("clean: %w", err)
		}
	}
	return removed, nil
}

// RebootPending names the module whose reboot the cursor says is being
// resumed, "" when none (or the cursor cannot be read: the run that
// follows reports that). The early stage leaves such a boot to
// phoenix.service without looking for the seed at all.
func RebootPending(r host.Root) string {
	var c Cursor
	if ok, err := readJSON(r, CursorFile, &c); !ok || err != nil {
		return ""
	}
	return c.Module
}

// EarlyResumeNote is what the early stage says when it leaves the resume
// of module's reboot to phoenix.service (before or after reading the seed).
func EarlyResumeNote(module string) string {
	return "early stage: resuming " + module + " after its reboot is left to phoenix.service"
}
