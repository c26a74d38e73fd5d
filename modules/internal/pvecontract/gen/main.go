// Command gen writes contract.json from a proxmox/pve-docs checkout:
//
//	go run ./modules/internal/pvecontract/gen -docs ../pve-docs -commit $(git -C ../pve-docs rev-parse HEAD)
//
// It reads api-viewer/apidata.js (the REST API schema pve-docs publishes)
// and generated/{pct,pvesm,pveam,pveum,pvecm}.1-synopsis.adoc (the CLI
// synopses, generated from the same schemas by pve-docs' extractor). The
// synopsis gives each command, its positional arguments and its options;
// where the command calls a REST method (cmdAPI below, from each tool's
// $cmddef), every parameter's full schema is taken from apidata.js, else it
// is derived from the synopsis's type text.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/modules/internal/pvecontract"
)

// tools are the CLIs the contract covers.
var tools = []string{"pct", "pvesm", "pveam", "pveum", "pvecm"}

// cmdAPI maps a CLI command to the REST method its $cmddef entry calls.
// Sources: pve-container src/PVE/CLI/pct.pm:1056-1148, pve-storage
// src/PVE/CLI/pvesm.pm (our $cmddef), pve-manager PVE/CLI/pveam.pm,
// pve-access-control src/PVE/CLI/pveum.pm (our $cmddef), pve-cluster
// src/PVE/CLI/pvecm.pm. Commands not listed are implemented by the CLI
// package itself (__PACKAGE__) and only the synopsis describes them.
var cmdAPI = map[string]string{
	"pct list":         "GET /nodes/{node}/lxc",
	"pct config":       "GET /nodes/{node}/lxc/{vmid}/config",
	"pct pending":      "GET /nodes/{node}/lxc/{vmid}/pending",
	"pct set":          "PUT /nodes/{node}/lxc/{vmid}/config",
	"pct resize":       "PUT /nodes/{node}/lxc/{vmid}/resize",
	"pct create":       "POST /nodes/{node}/lxc",
	"pct restore":      "POST /nodes/{node}/lxc",
	"pct destroy":      "DELETE /nodes/{node}/lxc/{vmid}",
	"pct start":        "POST /nodes/{node}/lxc/{vmid}/status/start",
	"pct suspend":      "POST /nodes/{node}/lxc/{vmid}/status/suspend",
	"pct resume":       "POST /nodes/{node}/lxc/{vmid}/status/resume",
	"pct shutdown":     "POST /nodes/{node}/lxc/{vmid}/status/shutdown",
	"pct stop":         "POST /nodes/{node}/lxc/{vmid}/status/stop",
	"pct reboot":       "POST /nodes/{node}/lxc/{vmid}/status/reboot",
	"pct clone":        "POST /nodes/{node}/lxc/{vmid}/clone",
	"pct migrate":      "POST /nodes/{node}/lxc/{vmid}/migrate",
	"pct move-volume":  "POST /nodes/{node}/lxc/{vmid}/move_volume",
	"pct snapshot":     "POST /nodes/{node}/lxc/{vmid}/snapshot",
	"pct delsnapshot":  "DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}",
	"pct listsnapshot": "GET /nodes/{node}/lxc/{vmid}/snapshot",
	"pct rollback":     "POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
	"pct template":     "POST /nodes/{node}/lxc/{vmid}/template",

	"pvesm add":       "POST /storage",
	"pvesm set":       "PUT /storage/{storage}",
	"pvesm remove":    "DELETE /storage/{storage}",
	"pvesm status":    "GET /nodes/{node}/storage",
	"pvesm list":      "GET /nodes/{node}/storage/{storage}/content",
	"pvesm alloc":     "POST /nodes/{node}/storage/{storage}/content",
	"pvesm free":      "DELETE /nodes/{node}/storage/{storage}/content/{volume}",
	"pvesm scan zfs":  "GET /nodes/{node}/scan/zfs",
	"pvesm scan nfs":  "GET /nodes/{node}/scan/nfs",
	"pvesm scan cifs": "GET /nodes/{node}/scan/cifs",

	"pveam download": "POST /nodes/{node}/aplinfo",

	"pveum user add":    "POST /access/users",
	"pveum user modify": "PUT /access/users/{userid}",
	"pveum user delete": "DELETE /access/users/{userid}",
	"pveum user list":   "GET /access/users",
	"pveum group add":   "POST /access/groups",
	"pveum group list":  "GET /access/groups",
	"pveum role add":    "POST /access/roles",
	"pveum role modify": "PUT /access/roles/{roleid}",
	"pveum role delete": "DELETE /access/roles/{roleid}",
	"pveum role list":   "GET /access/roles",
	"pveum acl modify":  "PUT /access/acl",
	"pveum acl delete":  "PUT /access/acl",
	"pveum acl list":    "GET /access/acl",

	"pvecm create":  "POST /cluster/config",
	"pvecm addnode": "POST /cluster/config/nodes/{node}",
}

// indexMax is how many instances an indexed option has; pve-docs names
// them "net[n]" without the count. Sources: pve-container
// src/PVE/LXC/Config.pm:37-39 ($MAX_MOUNT_POINTS = 256, $MAX_UNUSED_DISKS,
// $MAX_DEVICES = 256) and :960 ($MAX_LXC_NETWORKS = 32); pvecm's link[n]:
// its synopsis says "up to 8 links supported; link0..link7".
var indexMax = map[string]int{"net": 32, "mp": 256, "unused": 256, "dev": 256, "link": 8}

// apiPrefixes are the REST paths pvesh calls may use (kept in the
// contract's api section).
var apiPrefixes = []string{"/nodes/{node}/network", "/cluster/config"}

func main() {
	docs := flag.String("docs", "", "path of a proxmox/pve-docs checkout")
	out := flag.String("out", "contract.json", "file to write")
	commit := flag.String("commit", "", "pve-docs commit the checkout is at")
	date := flag.String("date", "", "that commit's date")
	flag.Parse()
	if *docs == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -docs PVE-DOCS-CHECKOUT [-out contract.json] [-commit SHA] [-date DATE]")
		os.Exit(2)
	}
	c, err := build(*docs, *commit, *date)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type apiNode struct {
	Path     string                     `json:"path"`
	Info     map[string]json.RawMessage `json:"info"`
	Children []apiNode                  `json:"children"`
}

type apiMethod struct {
	Name       string `json:"name"`
	Parameters struct {
		Properties map[string]map[string]any `json:"properties"`
	} `json:"parameters"`
}

func build(docs, commit, date string) (*pvecontract.Contract, error) {
	raw, err := os.ReadFile(filepath.Join(docs, "api-viewer", "apidata.js"))
	if err != nil {
		return nil, err
	}
	// apidata.js is "const apiSchema = [ ... ]\n;\n" (pve-docs
	// api-viewer/Makefile writes it from extractapi.pl).
	start, end := bytes.IndexByte(raw, '['), bytes.LastIndexByte(raw, ']')
	if start < 0 || end < start {
		return nil, fmt.Errorf("apidata.js: no JSON array")
	}
	var roots []apiNode
	if err := json.Unmarshal(raw[start:end+1], &roots); err != nil {
		return nil, fmt.Errorf("apidata.js: %w", err)
	}
	api := map[string]map[string]*apiMethod{}
	var walk func(n apiNode)
	walk = func(n apiNode) {
		for m, info := range n.Info {
			var am apiMethod
			if err := json.Unmarshal(info, &am); err == nil {
				if api[n.Path] == nil {
					api[n.Path] = map[string]*apiMethod{}
				}
				api[n.Path][m] = &am
			}
		}
		for _, ch := range n.Children {
			walk(ch)
		}
	}
	for _, r := range roots {
		walk(r)
	}

	version, err := docsVersion(docs)
	if err != nil {
		return nil, err
	}
	c := &pvecontract.Contract{
		Source: pvecontract.Source{
			Repo: "https://github.com/proxmox/pve-docs", Commit: commit, Version: version, Date: date,
			License: "GFDL-1.3-no-invariants-or-later (documentation and generated/*); AGPL-3.0-or-later (*.js, per debian/copyright)",
			Files:   []string{"api-viewer/apidata.js"},
		},
		Tools: map[string]*pvecontract.Tool{},
		API:   map[string]map[string]*pvecontract.Method{},
	}
	// [FORMAT_OPTIONS] are pve-common's standard output options
	// (PVE::RESTHandler getopt_usage), listed once in this file.
	fmtFile := filepath.Join("generated", "output-format-opts.adoc")
	c.Source.Files = append(c.Source.Files, fmtFile)
	fmtOpts, err := parseOptions(filepath.Join(docs, fmtFile))
	if err != nil {
		return nil, err
	}
	for _, t := range tools {
		f := filepath.Join("generated", t+".1-synopsis.adoc")
		c.Source.Files = append(c.Source.Files, f)
		tool, err := parseSynopsis(t, filepath.Join(docs, f), api)
		if err != nil {
			return nil, err
		}
		for _, cmd := range tool.Commands {
			if strings.Contains(cmd.Usage, "[FORMAT_OPTIONS]") {
				for k, o := range fmtOpts {
					cp := *o
					cmd.Options[k] = &cp
				}
			}
		}
		c.Tools[t] = tool
	}
	for path, ms := range api {
		keep := false
		for _, p := range apiPrefixes {
			if path == p || strings.HasPrefix(path, p+"/") {
				keep = true
			}
		}
		if !keep {
			continue
		}
		c.API[path] = map[string]*pvecontract.Method{}
		for m, am := range ms {
			pm := &pvecontract.Method{Name: am.Name, Parameters: map[string]*pvecontract.Schema{}}
			for k, p := range am.Parameters.Properties {
				name, s := indexed(k, convert(p))
				pm.Parameters[name] = s
			}
			c.API[path][m] = pm
		}
	}
	return c, nil
}

// docsVersion reads the version from debian/changelog's first line.
func docsVersion(docs string) (string, error) {
	b, err := os.ReadFile(filepath.Join(docs, "debian", "changelog"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`^\S+ \(([^)]+)\)`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("debian/changelog: no version")
	}
	return string(m[1]), nil
}

var (
	reHead  = regexp.MustCompile(`^\*([a-z0-9][a-z0-9 _-]*)\*\s*(.*)$`)
	reAlias = regexp.MustCompile(`^An alias for '([^']+)'\.`)
	reArg   = regexp.MustCompile("^`<([^>]+)>`: `(.*)` (?:\\('default =' `(.*)`\\))?::$")
	reOpt   = regexp.MustCompile("^`--([^`]+)` `(.*)` ?(?:\\('default =' `(.*)`\\))?::$")
)

// parseSynopsis reads one TOOL.1-synopsis.adoc. Its layout (pve-docs
// extractor, PVE::RESTHandler::usage_str 'asciidoc'): a "*tool cmd* `ARGS`
// `[OPTIONS]`" line per command, then "`<arg>`: `TYPE` ::" and
// "`--opt` `TYPE` ('default =' `X`)::" lines.
func parseSynopsis(tool, file string, api map[string]map[string]*apiMethod) (*pvecontract.Tool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &pvecontract.Tool{Commands: map[string]*pvecontract.Command{}, Aliases: map[string]string{}}
	var cur *pvecontract.Command
	var curName string
	var props map[string]map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if m := reHead.FindStringSubmatch(line); m != nil {
			words := strings.Fields(m[1])
			if len(words) < 2 || words[0] != tool {
				cur = nil
				continue
			}
			curName = strings.Join(words[1:], " ")
			usage := tool + " " + curName
			if m[2] != "" {
				usage += " " + strings.NewReplacer("`", "").Replace(m[2])
			}
			cur = &pvecontract.Command{Usage: usage, Options: map[string]*pvecontract.Schema{}}
			cur.API = cmdAPI[tool+" "+curName]
			props = nil
			if cur.API != "" {
				mp := strings.SplitN(cur.API, " ", 2)
				am := api[mp[1]][mp[0]]
				if am == nil {
					return nil, fmt.Errorf("%s: %s: no API method %s", file, curName, cur.API)
				}
				props = am.Parameters.Properties
			}
			// Positional args and required options from the head line.
			head := strings.Trim(strings.SplitN(m[2], "` `", 2)[0], "`")
			toks := strings.Fields(head)
			for i := 0; i < len(toks); i++ {
				tk := toks[i]
				switch {
				case strings.HasPrefix(tk, "--"):
					i++ // a required option's type; its schema comes below
				case strings.HasPrefix(tk, "[<") && strings.HasSuffix(tk, ">]"):
					name := strings.TrimSuffix(strings.TrimPrefix(tk, "[<"), ">]")
					if name == "extra-args" {
						cur.ExtraArgs = true
						continue
					}
					cur.Args = append(cur.Args, pvecontract.Arg{Name: name, Optional: true})
				case strings.HasPrefix(tk, "<") && strings.HasSuffix(tk, ">"):
					cur.Args = append(cur.Args, pvecontract.Arg{Name: strings.Trim(tk, "<>")})
				}
			}
			t.Commands[curName] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if m := reAlias.FindStringSubmatch(line); m != nil {
			target := strings.TrimPrefix(m[1], tool+" ")
			delete(t.Commands, curName)
			t.Aliases[curName] = target
			cur = nil
			continue
		}
		if m := reArg.FindStringSubmatch(line); m != nil {
			name := m[1]
			if name == "extra-args" {
				continue
			}
			s := schemaFor(name, m[2], m[3], props)
			for i := range cur.Args {
				if cur.Args[i].Name == name {
					// A positional argument's optionality is its place in
					// the synopsis ("[<storage>]"), not the schema's.
					s.Optional = cur.Args[i].Optional
					cur.Args[i].Schema = s
				}
			}
			continue
		}
		if m := reOpt.FindStringSubmatch(line); m != nil {
			name, s := indexed(m[1], schemaFor(m[1], m[2], m[3], props))
			cur.Options[name] = s
			continue
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Required options named in the head line ("--roles <string>") are
	// not optional even where the synopsis alone describes them.
	for name, c := range t.Commands {
		for _, a := range c.Args {
			if a.Schema == nil {
				return nil, fmt.Errorf("%s: %s: no schema for <%s>", file, name, a.Name)
			}
		}
		for _, tk := range strings.Fields(c.Usage) {
			if o, ok := c.Options[strings.TrimPrefix(tk, "--")]; ok && strings.HasPrefix(tk, "--") && c.API == "" {
				o.Optional = false
			}
		}
	}
	return t, nil
}

// parseOptions reads a file of "`--opt` `TYPE` ('default =' `X`)::" lines.
func parseOptions(file string) (map[string]*pvecontract.Schema, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]*pvecontract.Schema{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := reOpt.FindStringSubmatch(line); m != nil {
			out[m[1]] = schemaFor(m[1], m[2], m[3], nil)
		}
	}
	return out, nil
}

// indexed folds "net[n]" into its base name with the instance count.
func indexed(name string, s *pvecontract.Schema) (string, *pvecontract.Schema) {
	if strings.HasSuffix(name, "[n]") {
		base := strings.TrimSuffix(name, "[n]")
		s.Index = indexMax[base]
		if s.Index == 0 {
			panic("no index count for " + name)
		}
	}
	return name, s
}

// schemaFor takes the parameter's schema from the REST method when there
// is one, else derives it from the synopsis type text.
func schemaFor(name, typetext, def string, props map[string]map[string]any) *pvecontract.Schema {
	if p, ok := props[name]; ok {
		return convert(p)
	}
	s := fromTypetext(typetext)
	s.Optional = true
	if def != "" {
		s.Default = def
	}
	return s
}

var (
	reRange = regexp.MustCompile(`^<(integer|number)> \((-?N|-?[0-9.]+) - (N|-?[0-9.]+)\)$`)
	reEnum  = regexp.MustCompile(`^<([^<>]+(?: \| [^<>]+)+)>$`)
	rePKey  = regexp.MustCompile(`^\[?,?\[?([a-zA-Z0-9_-]+)=\]?<([^>]*)>\]?$`)
)

// fromTypetext derives a schema from the type text that
// PVE::JSONSchema::schema_get_type_text (JSONSchema.pm:2880-2920) prints.
func fromTypetext(tt string) *pvecontract.Schema {
	s := &pvecontract.Schema{Typetext: tt}
	switch {
	case tt == "<boolean>":
		s.Type = "boolean"
	case tt == "<integer>", tt == "<number>":
		s.Type = strings.Trim(tt, "<>")
	case tt == "<array>":
		s.Type = "array"
	case reRange.MatchString(tt):
		m := reRange.FindStringSubmatch(tt)
		s.Type = m[1]
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			s.Minimum = &v
		}
		if v, err := strconv.ParseFloat(m[3], 64); err == nil {
			s.Maximum = &v
		}
	case reEnum.MatchString(tt):
		s.Type = "string"
		s.Enum = strings.Split(strings.Trim(tt, "<>"), " | ")
	case strings.Contains(tt, "=<") || strings.Contains(tt, "=]<"):
		// A property string: "[address=]<IP> [,priority=<integer>]".
		s.Type = "string"
		s.Props = map[string]*pvecontract.Schema{}
		for _, part := range strings.Fields(strings.ReplaceAll(tt, " ,", " [,")) {
			part = strings.TrimPrefix(part, "[")
			m := rePKey.FindStringSubmatch(strings.TrimPrefix(part, ","))
			if m == nil {
				continue
			}
			k := &pvecontract.Schema{Type: "string", Optional: true, Typetext: "<" + m[2] + ">"}
			switch m[2] {
			case "1|0":
				k.Type = "boolean"
			case "integer":
				k.Type = "integer"
			}
			if strings.Contains(part, "=]") {
				k.DefaultKey = true
			}
			s.Props[m[1]] = k
		}
	default:
		s.Type = "string"
		if !strings.HasPrefix(tt, "<") {
			// A bare regex ("([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}") is the
			// pattern itself; prose ("a file containing ...") is not.
			if _, err := regexp.Compile(perlToRE2(tt)); err == nil && !strings.Contains(tt, " ") {
				s.Pattern = perlToRE2(tt)
			}
		}
	}
	return s
}

// perlToRE2 rewrites the Perl-only "(?^:" (default flags) group that
// stringified qr// patterns carry; the rest of PVE's patterns are RE2.
func perlToRE2(p string) string { return strings.ReplaceAll(p, "(?^:", "(?:") }

var reDeprecated = regexp.MustCompile(`(?i)(?:NOTE: )?deprecated[^.]*(?:\.[^.]*)?`)

// convert turns an apidata.js property into a Schema.
func convert(p map[string]any) *pvecontract.Schema {
	s := &pvecontract.Schema{}
	str := func(k string) string {
		if v, ok := p[k].(string); ok {
			return v
		}
		return ""
	}
	num := func(k string) *float64 {
		switch v := p[k].(type) {
		case float64:
			return &v
		case string:
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return &f
			}
		}
		return nil
	}
	intp := func(k string) *int {
		if f := num(k); f != nil {
			i := int(*f)
			return &i
		}
		return nil
	}
	truthy := func(k string) bool {
		switch v := p[k].(type) {
		case float64:
			return v != 0
		case bool:
			return v
		case string:
			return v == "1"
		}
		return false
	}
	s.Type = str("type")
	s.Optional = truthy("optional")
	s.DefaultKey = truthy("default_key")
	s.Alias = str("alias")
	s.Typetext = str("typetext")
	s.Minimum, s.Maximum = num("minimum"), num("maximum")
	s.MinLength, s.MaxLength = intp("minLength"), intp("maxLength")
	if pat := str("pattern"); pat != "" {
		s.Pattern = perlToRE2(pat)
	}
	if d, ok := p["default"]; ok {
		s.Default = fmt.Sprint(d)
	}
	if e, ok := p["enum"].([]any); ok {
		for _, v := range e {
			s.Enum = append(s.Enum, fmt.Sprint(v))
		}
		sort.Strings(s.Enum)
	}
	switch f := p["format"].(type) {
	case string:
		s.Format = f
	case map[string]any:
		s.Props = map[string]*pvecontract.Schema{}
		for k, v := range f {
			if m, ok := v.(map[string]any); ok {
				s.Props[k] = convert(m)
			}
		}
	}
	if it, ok := p["items"].(map[string]any); ok {
		s.Items = convert(it)
	}
	if d := str("description"); strings.Contains(strings.ToLower(d), "deprecated") {
		s.Deprecated = strings.TrimSpace(reDeprecated.FindString(d))
	}
	return s
}
