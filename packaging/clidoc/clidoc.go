// Package clidoc reads phoenix's command-line interface from the binary's own
// usage text (`phoenix help`, `phoenix VERB -h`, `phoenix VERB SUB -h`) and
// writes the man page phoenix(8) and the bash, zsh and fish completions
// from it. Nothing about verbs or flags is written down twice: a verb or
// flag added to cmd/phoenix shows up in the package's man page and
// completions at the next `make deb`.
package clidoc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// CLI is the command-line interface of one binary.
type CLI struct {
	Name  string
	Verbs []Verb
}

// Verb is one verb (or sub-verb, such as `seed build`).
type Verb struct {
	Name    string
	Summary string
	// Usage are the synopsis lines the verb prints ("phoenix install
	// [--root DIR] ..."), without "usage:".
	Usage []string
	Flags []Flag
	Subs  []Verb
}

// Flag is one flag as Go's flag.PrintDefaults prints it.
type Flag struct {
	Name  string // without dashes
	Arg   string // the value's placeholder ("DIR", "string"); empty for a boolean
	Usage string // the help text, "(default ...)" included
	// Choices are the values a synopsis line lists for the flag
	// ("[--format text|json]"), for completion.
	Choices []string
}

// Dashed is the flag as a user types it: --name, or -n for one letter (Go's
// flag package takes either form; the usage lines use these).
func (f Flag) Dashed() string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// Runner runs the binary with args and returns what it printed on stdout
// and stderr together. Exit codes are ignored: `VERB -h` exits 0 or 2.
type Runner func(ctx context.Context, args ...string) ([]byte, error)

// ExecRunner runs bin with a fixed environment (HOME=/root, LC_ALL=C), so
// defaults derived from the environment (seed sign's key path) read the
// same on every build machine.
func ExecRunner(bin string) Runner {
	return func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = []string{"HOME=/root", "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("clidoc: run %s %s: %w", bin, strings.Join(args, " "), err)
		}
		return out.Bytes(), nil
	}
}

// Read asks the binary for its verbs and, for each, its flags and sub-verbs.
func Read(ctx context.Context, name string, run Runner) (CLI, error) {
	help, err := run(ctx, "help")
	if err != nil {
		return CLI{}, err
	}
	verbs := ParseHelp(string(help))
	if len(verbs) == 0 {
		return CLI{}, fmt.Errorf("clidoc: %s help lists no commands:\n%s", name, help)
	}
	cli := CLI{Name: name}
	for _, v := range verbs {
		out, err := run(ctx, v.Name, "-h")
		if err != nil {
			return CLI{}, err
		}
		all := ParseUsage(name, string(out))
		v.Flags = ParseFlags(string(out))
		for _, sub := range Subverbs(name, v.Name, all) {
			sout, err := run(ctx, v.Name, sub, "-h")
			if err != nil {
				return CLI{}, err
			}
			s := Verb{Name: sub, Flags: ParseFlags(string(sout))}
			for _, u := range all {
				if strings.HasPrefix(u+" ", name+" "+v.Name+" "+sub+" ") {
					s.Usage = append(s.Usage, u)
				}
			}
			v.Subs = append(v.Subs, s)
		}
		if len(v.Subs) == 0 {
			v.Usage = all
		}
		addChoices(v.Flags, v.Usage)
		for i := range v.Subs {
			addChoices(v.Subs[i].Flags, v.Subs[i].Usage)
		}
		// A verb that does its work instead of printing usage for -h
		// (version) still has a synopsis.
		if len(v.Usage) == 0 && len(v.Subs) == 0 {
			v.Usage = []string{name + " " + v.Name}
		}
		cli.Verbs = append(cli.Verbs, v)
	}
	return cli, nil
}

var helpLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s+(\S.*)$`)

// ParseHelp reads the command list of `phoenix help`: "  NAME  summary"
// lines after "commands:".
func ParseHelp(text string) []Verb {
	var out []Verb
	in := false
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "commands:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		if m := helpLine.FindStringSubmatch(line); m != nil {
			out = append(out, Verb{Name: m[1], Summary: strings.TrimSpace(m[2])})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParseUsage returns the synopsis lines in a verb's -h output: each line
// that starts with the binary's name, after an optional "usage:".
func ParseUsage(name, text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		l = strings.TrimSpace(strings.TrimPrefix(l, "usage:"))
		if strings.HasPrefix(l, name+" ") && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

var choiceArg = regexp.MustCompile(`^[A-Za-z0-9_.]+(\|[A-Za-z0-9_.]+)+\]?$`)

// addChoices fills in the choices the synopsis lists after a flag
// ("--format text|json", "--fat-type 12|16|32").
func addChoices(flags []Flag, usage []string) {
	for _, u := range usage {
		f := strings.Fields(u)
		for i := 0; i+1 < len(f); i++ {
			name := strings.TrimLeft(strings.TrimLeft(f[i], "["), "-")
			if !choiceArg.MatchString(f[i+1]) {
				continue
			}
			for j := range flags {
				if flags[j].Name == name && flags[j].Choices == nil {
					flags[j].Choices = strings.Split(strings.TrimRight(f[i+1], "]"), "|")
				}
			}
		}
	}
}

var subWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// Subverbs returns the sub-verbs a verb's synopsis lines name: a lower-case
// word right after "phoenix VERB" ("phoenix seed build ...",
// "phoenix bake hook ..."); upper-case words are placeholders (CTID).
func Subverbs(name, verb string, usage []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range usage {
		f := strings.Fields(u)
		if len(f) < 3 || f[0] != name || f[1] != verb || !subWord.MatchString(f[2]) || seen[f[2]] {
			continue
		}
		seen[f[2]] = true
		out = append(out, f[2])
	}
	return out
}

var flagLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_-]*)(?: (\S+))?(?:\t(.*))?$`)

// ParseFlags reads flag.PrintDefaults output: "  -name ARG" then the usage
// on lines indented by "    \t", or "  -x\tusage" on one line for a short
// name (flag.FlagSet.PrintDefaults in Go's src/flag/flag.go).
func ParseFlags(text string) []Flag {
	var out []Flag
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := flagLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		f := Flag{Name: m[1], Arg: m[2], Usage: m[3]}
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
			i++
			f.Usage = strings.TrimSpace(f.Usage + " " + strings.TrimPrefix(lines[i], "    \t"))
		}
		out = append(out, f)
	}
	return out
}

// ValueKind says what a flag's value is, for completion: "dir", "file" or
// "" (anything). It reads the placeholder the usage text shows.
func (f Flag) ValueKind() string {
	switch f.Arg {
	case "":
		return "none"
	case "DIR":
		return "dir"
	case "FILE", "PATH", "OUT", "KEY":
		return "file"
	}
	return ""
}
