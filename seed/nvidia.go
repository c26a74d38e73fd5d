package seed

import "strings"

// NVIDIA is the host GPU driver.
type NVIDIA struct {
	Version     string   `yaml:"version" json:"version"`
	Source      string   `yaml:"source" json:"source"` // runfile or packages
	Runfile     *Runfile `yaml:"runfile,omitempty" json:"runfile,omitempty"`
	RequireGPU  bool     `yaml:"require_gpu,omitempty" json:"require_gpu,omitempty"`
	Persistence *bool    `yaml:"persistenced,omitempty" json:"persistenced,omitempty"` // default true
}

// Runfile is an NVIDIA .run installer, fetched by URL or taken from the seed
// volume.
type Runfile struct {
	URL    string   `yaml:"url,omitempty" json:"url,omitempty"`
	File   string   `yaml:"file,omitempty" json:"file,omitempty"` // relative to the seed volume
	SHA256 string   `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	Flags  []string `yaml:"flags,omitempty" json:"flags,omitempty"`
}

// check holds the nvidia section to its rules (the section table, sections.go,
// calls it for every section a seed has).
func (n *NVIDIA) check(c *checker) {
	if c.required("nvidia.version", n.Version) {
		c.pattern("nvidia.version", n.Version, reDriver.match, "an NVIDIA driver version (e.g. \"580.76.05\")")
	}
	switch n.Source {
	case "":
		c.required("nvidia.source", n.Source)
	case "runfile":
		if n.Runfile == nil {
			c.errf("nvidia.runfile", "required when source is runfile: give runfile.url (with sha256) or runfile.file")
		}
	case "packages":
		if n.Runfile != nil {
			c.errf("nvidia.runfile", "only used when source is runfile")
		}
	default:
		c.errf("nvidia.source", "%q is not a driver source: use runfile or packages", n.Source)
	}
	if r := n.Runfile; r != nil {
		// A key given empty counts as given; so does a value in a seed
		// built in Go (no positions: SectionErr).
		hasURL := r.URL != "" || c.has("nvidia.runfile.url")
		hasFile := r.File != "" || c.has("nvidia.runfile.file")
		switch {
		case !hasURL && !hasFile:
			c.errf("nvidia.runfile", "give url (with sha256) or file")
		case hasURL && hasFile:
			c.errf("nvidia.runfile", "url and file are exclusive: give one")
		}
		if r.URL != "" {
			c.url("nvidia.runfile.url", r.URL, "an http(s) URL")
			if r.SHA256 == "" {
				c.errf("nvidia.runfile.sha256", "required with url: a download is only run once its SHA-256 matches")
			}
		}
		if r.File != "" && !relPath(r.File) {
			c.errf("nvidia.runfile.file", "%q is not a path relative to the seed volume", r.File)
		}
		c.pattern("nvidia.runfile.sha256", r.SHA256, reSHA256.match, "a SHA-256 (64 lowercase hex digits)")
		for i, f := range r.Flags {
			if !strings.HasPrefix(f, "-") || !plain(f) || strings.Contains(f, " ") {
				c.errf(index("nvidia.runfile.flags", i), "%q is not an installer flag (one --flag per item)", f)
			}
		}
	}
}
