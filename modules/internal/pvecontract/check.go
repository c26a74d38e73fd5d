package pvecontract

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ExitCode is the status every refused call exits with. The PVE tools are
// Perl; pve-common PVE::CLIHandler lets a PVE::Exception die out of
// run_cli_handler (src/PVE/CLIHandler.pm:600-650), and perl's die exits 255
// when errno and $? are 0 (perlfunc "die"); $abort calls exit(-1), which is
// 255 as well (src/PVE/CLIHandler.pm:108-112).
const ExitCode = 255

// Call is a CLI call that passed the contract.
type Call struct {
	Tool    string
	Command string            // full command name: "create", "user add"
	Params  map[string]string // every parameter by its schema name (net0, vmid)
	Extra   []string          // free arguments (pct exec ... -- ARGS)
	// Deprecated names the options used that the contract marks deprecated
	// (the real tool accepts them).
	Deprecated []string
}

// Error is the real tool's refusal: Msg is its stderr, Code its exit status.
type Error struct {
	Tool, Command string
	Code          int
	Msg           string
	// Errors are the per-parameter messages of a "Parameter verification
	// failed." (param -> message).
	Errors map[string]string
}

func (e *Error) Error() string { return strings.TrimRight(e.Msg, "\n") }

// Check validates one call of tool (argv without the program name) against
// the embedded contract, as the real tool does before it acts.
func Check(tool string, args []string) (*Call, error) {
	c, err := Load()
	if err != nil {
		return nil, err
	}
	return c.Check(tool, args)
}

// CheckStrict is Check that also refuses deprecated options. The real tool
// accepts them (the schema only says "NOTE: Deprecated" in the description,
// e.g. pvesm's mkdir); this is Phoenix's own rule, so that a deprecated
// option is caught in tests and not by the next PVE release. Its message
// says so.
func CheckStrict(tool string, args []string) (*Call, error) {
	call, err := Check(tool, args)
	if err != nil {
		return call, err
	}
	if len(call.Deprecated) > 0 {
		var b strings.Builder
		for _, d := range call.Deprecated {
			fmt.Fprintf(&b, "%s %s: option '--%s' is deprecated (%s); the real tool still accepts it, the contract check does not\n",
				tool, call.Command, d, deprecationNote(tool, call.Command, d))
		}
		return call, &Error{Tool: tool, Command: call.Command, Code: ExitCode, Msg: b.String()}
	}
	return call, nil
}

func deprecationNote(tool, cmd, opt string) string {
	c := MustLoad()
	if s := c.Tools[tool].Commands[cmd].option(opt); s != nil {
		return s.Deprecated
	}
	return ""
}

// option finds the schema of a concrete option name (net0 -> net[n]).
func (cmd *Command) option(name string) *Schema {
	if s, ok := cmd.Options[name]; ok && s.Index == 0 {
		return s
	}
	if base, idx, ok := splitIndex(name); ok {
		if s, ok := cmd.Options[base+"[n]"]; ok && idx < s.Index {
			return s
		}
	}
	return nil
}

var reIndexed = regexp.MustCompile(`^([a-z]+)(\d+)$`)

func splitIndex(name string) (string, int, bool) {
	m := reIndexed.FindStringSubmatch(name)
	if m == nil || (len(m[2]) > 1 && m[2][0] == '0') {
		return "", 0, false
	}
	n, err := strconv.Atoi(m[2])
	return m[1], n, err == nil
}

// names lists every concrete option name (net0..net31 expanded).
func (cmd *Command) names() []string {
	var out []string
	for k, s := range cmd.Options {
		if s.Index > 0 {
			base := strings.TrimSuffix(k, "[n]")
			for i := 0; i < s.Index; i++ {
				out = append(out, base+strconv.Itoa(i))
			}
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Check is the package-level Check on this contract.
func (c *Contract) Check(tool string, args []string) (*Call, error) {
	t := c.Tools[tool]
	if t == nil {
		return nil, fmt.Errorf("pvecontract: no contract for %q", tool)
	}
	name, cmd, rest, err := t.resolve(tool, args)
	if err != nil {
		return nil, err
	}
	call := &Call{Tool: tool, Command: name, Params: map[string]string{}}
	fail := func(msg string) error {
		// raise("...\n", code => 400) then cli_handler adds the short usage
		// (pve-common src/PVE/RESTHandler.pm:1128-1141; Exception.pm:98-127).
		return &Error{Tool: tool, Command: name, Code: ExitCode, Msg: "400 " + msg + "\n" + cmd.Usage + "\n"}
	}
	positional, warn, err := cmd.getopt(rest, call)
	if err != nil {
		return call, &Error{Tool: tool, Command: name, Code: ExitCode, Msg: warn + "400 " + err.Error() + "\n" + cmd.Usage + "\n"}
	}
	// Positional parameters in cmddef order (JSONSchema.pm get_options,
	// the "if (@$args)" branch).
	for i, a := range cmd.Args {
		if len(positional) == 0 {
			for _, left := range cmd.Args[i:] {
				if !left.Optional {
					return call, fail("not enough arguments")
				}
			}
			break
		}
		call.Params[a.Name] = positional[0]
		positional = positional[1:]
	}
	if cmd.ExtraArgs {
		call.Extra = positional
		positional = nil
	}
	if len(positional) > 0 {
		return call, fail("too many arguments")
	}
	errs := map[string]string{}
	for _, a := range cmd.Args {
		if v, ok := call.Params[a.Name]; ok {
			checkProp(a.Name, v, a.Schema, errs)
		}
	}
	cmd.checkOptions(call, func(k string) bool { return isArg(cmd, k) }, errs)
	if len(errs) > 0 {
		return call, paramError(tool, name, cmd.Usage, errs)
	}
	return call, nil
}

// checkOptions checks every parameter of call that is not a positional
// (skip) against its option schema, notes deprecated ones, and reports the
// required options that are missing: check_prop "property is missing and it
// is not optional" (JSONSchema.pm:1578-1583). The CLI and pvesh checks share
// it.
func (cmd *Command) checkOptions(call *Call, skip func(string) bool, errs map[string]string) {
	for k, v := range call.Params {
		if skip(k) {
			continue
		}
		s := cmd.option(k)
		checkProp(k, v, s, errs)
		if s.Deprecated != "" {
			call.Deprecated = append(call.Deprecated, k)
		}
	}
	for k, s := range cmd.Options {
		if s.Index == 0 && !s.Optional && s.Alias == "" {
			if _, ok := call.Params[k]; !ok {
				errs[k] = "property is missing and it is not optional"
			}
		}
	}
	sort.Strings(call.Deprecated)
}

func isArg(cmd *Command, k string) bool {
	for _, a := range cmd.Args {
		if a.Name == k {
			return true
		}
	}
	return false
}

// paramError is PVE::Exception::raise_param_exc stringified with the
// usage: "400 Parameter verification failed.\n" then "param: message" per
// error (src/PVE/Exception.pm:78-127; JSONSchema.pm:1694-1720). Perl prints
// the errors in hash order; they are sorted here.
func paramError(tool, name, usage string, errs map[string]string) *Error {
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("400 Parameter verification failed.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, errs[k])
	}
	b.WriteString(usage + "\n")
	return &Error{Tool: tool, Command: name, Code: ExitCode, Msg: b.String(), Errors: errs}
}

// resolve finds the (sub)command, following aliases, as
// PVE::CLIHandler::resolve_cmd does (src/PVE/CLIHandler.pm:144-200).
func (t *Tool) resolve(tool string, args []string) (string, *Command, []string, error) {
	abort := func(msg string) error {
		// $abort: print_usage_short(STDERR, reason) and exit(-1)
		// (src/PVE/CLIHandler.pm:108-112, 372-378).
		return &Error{Tool: tool, Code: ExitCode, Msg: "ERROR: " + msg + "\nUSAGE: " + tool + " <COMMAND> [ARGS] [OPTIONS]\n"}
	}
	if len(args) == 0 {
		return "", nil, nil, abort("no command specified")
	}
	for depth := 0; depth < 3; depth++ {
		prefix := ""
		for i, w := range args {
			if prefix != "" {
				prefix += " "
			}
			prefix += w
			if target, ok := t.Aliases[prefix]; ok {
				args = append(strings.Fields(target), args[i+1:]...)
				goto again
			}
			if cmd, ok := t.Commands[prefix]; ok {
				return prefix, cmd, args[i+1:], nil
			}
			if !t.hasPrefix(prefix + " ") {
				return "", nil, nil, abort(fmt.Sprintf("unknown command '%s %s'", tool, prefix))
			}
		}
		return "", nil, nil, abort(fmt.Sprintf("incomplete command '%s %s'", tool, prefix))
	again:
	}
	return "", nil, nil, abort("alias loop")
}

func (t *Tool) hasPrefix(p string) bool {
	for k := range t.Commands {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	for k := range t.Aliases {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

type getoptErr string

func (e getoptErr) Error() string { return string(e) }

// getopt parses options as PVE::JSONSchema::get_options does
// (src/PVE/JSONSchema.pm:2346-2545): Getopt::Long with prefix "--" or "-",
// its default permute, auto_abbrev and ignore_case; booleans take an
// optional value (":s"), everything else a mandatory one ("=s"), -list
// formats and arrays may repeat. It returns the positional arguments, the
// warnings Getopt::Long prints, and a parse error.
func (cmd *Command) getopt(args []string, call *Call) ([]string, string, error) {
	var positional []string
	var warn strings.Builder
	names := cmd.names()
	failed := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		opt := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(opt, "="); ok {
			opt, value, hasValue = k, v, true
		}
		name, msg := lookup(names, opt)
		if msg != "" {
			warn.WriteString(msg)
			failed = true
			continue
		}
		s := cmd.option(name)
		if s.Type == "boolean" {
			// ":s": the next argument is the value unless it looks like an
			// option; none means "" which get_options turns into 1.
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				value, hasValue = args[i+1], true
				i++
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				fmt.Fprintf(&warn, "Option %s requires an argument\n", opt)
				failed = true
				continue
			}
			value = args[i+1]
			i++
		}
		if prev, ok := call.Params[name]; ok && (strings.Contains(s.Format, "-list") || s.Type == "array") {
			// --vmid 100 --vmid 101 is joined with "," (get_options :2533).
			value = prev + "," + value
		}
		call.Params[name] = value
	}
	if failed {
		return nil, warn.String(), getoptErr("unable to parse option")
	}
	// Booleans: "" -> 1, parse_boolean, else "unable to parse boolean
	// option" (JSONSchema.pm:2522-2531).
	for k, v := range call.Params {
		if s := cmd.option(k); s != nil && s.Type == "boolean" {
			if v == "" {
				call.Params[k] = "1"
			} else if b, ok := parseBoolean(v); ok {
				call.Params[k] = b
			} else {
				return nil, "", getoptErr("unable to parse boolean option")
			}
		}
	}
	return positional, "", nil
}

// lookup matches an option name as Getopt::Long does: exact (ignoring
// case), else a unique prefix (auto_abbrev). Its messages are
// Getopt::Long's "Unknown option: x" and "Option x is ambiguous (a, b)".
func lookup(names []string, opt string) (string, string) {
	lo := strings.ToLower(opt)
	var cands []string
	for _, n := range names {
		if strings.ToLower(n) == lo {
			return n, ""
		}
		if strings.HasPrefix(strings.ToLower(n), lo) {
			cands = append(cands, n)
		}
	}
	switch len(cands) {
	case 0:
		return "", fmt.Sprintf("Unknown option: %s\n", lo)
	case 1:
		return cands[0], ""
	}
	return "", fmt.Sprintf("Option %s is ambiguous (%s)\n", opt, strings.Join(cands, ", "))
}

var (
	reTrue  = regexp.MustCompile(`(?i)^(1|on|yes|true)$`)
	reFalse = regexp.MustCompile(`(?i)^(0|off|no|false)$`)
)

// parseBoolean is JSONSchema.pm parse_boolean (:1061-1066).
func parseBoolean(v string) (string, bool) {
	switch {
	case reTrue.MatchString(v):
		return "1", true
	case reFalse.MatchString(v):
		return "0", true
	}
	return "", false
}

var (
	reInteger = regexp.MustCompile(`^[+-]?\d+$`)
	reNumber  = regexp.MustCompile(`^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`)
	reCache   sync.Map
)

func compile(p string) *regexp.Regexp {
	if re, ok := reCache.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	// m/^$pattern$/ (JSONSchema.pm:1636). A pattern RE2 cannot compile is
	// not checked (none of the ones Phoenix meets is such).
	re, err := regexp.Compile("^(?:" + p + ")$")
	if err != nil {
		re = nil
	}
	reCache.Store(p, re)
	return re
}

// checkProp is JSONSchema.pm check_prop for a scalar value
// (:1560-1692): type, format, pattern, maxLength, minLength, minimum,
// maximum, enum, each error recorded under path and the first one ending
// the check.
func checkProp(path, value string, s *Schema, errs map[string]string) {
	add := func(msg string) {
		if prev, ok := errs[path]; ok {
			errs[path] = prev + `\n` + msg
			return
		}
		errs[path] = msg
	}
	switch s.Type {
	case "boolean":
		if value != "0" && value != "1" {
			add(fmt.Sprintf("type check ('boolean') failed - got '%s'", value))
			return
		}
	case "integer":
		if !reInteger.MatchString(value) {
			add(fmt.Sprintf("type check ('integer') failed - got '%s'", value))
			return
		}
	case "number":
		if !reNumber.MatchString(value) {
			add(fmt.Sprintf("type check ('number') failed - got '%s'", value))
			return
		}
	}
	if s.Props != nil {
		if msg := parsePropertyString(path, value, s.Props); msg != "" {
			add("invalid format - " + msg)
			return
		}
	} else if s.Format != "" {
		if msg := checkFormat(s.Format, value); msg != "" {
			add("invalid format - " + msg)
			return
		}
	}
	if s.Pattern != "" {
		if re := compile(s.Pattern); re != nil && !re.MatchString(value) {
			add("value does not match the regex pattern")
			return
		}
	}
	if s.MaxLength != nil && len([]rune(value)) > *s.MaxLength {
		add(fmt.Sprintf("value may only be %d characters long", *s.MaxLength))
		return
	}
	if s.MinLength != nil && len([]rune(value)) < *s.MinLength {
		add(fmt.Sprintf("value must be at least %d characters long", *s.MinLength))
		return
	}
	if reNumber.MatchString(value) {
		f, _ := strconv.ParseFloat(value, 64)
		if s.Maximum != nil && f > *s.Maximum {
			add("value must have a maximum value of " + num(*s.Maximum))
			return
		}
		if s.Minimum != nil && f < *s.Minimum {
			add("value must have a minimum value of " + num(*s.Minimum))
			return
		}
	}
	if len(s.Enum) > 0 {
		for _, e := range s.Enum {
			if e == value {
				return
			}
		}
		add(fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", value, strings.Join(s.Enum, ", ")))
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// parsePropertyString is JSONSchema.pm parse_property_string
// (:1068-1135): split on ",", "k=v" or a bare value for the default key,
// unknown and duplicate keys refused, then check_object on the result with
// additional properties refused. It returns the die message, if any. Key
// errors raise "format error" with the errors attached, which the caller's
// "invalid format - $@" stringifies as "format error\npath.key: msg" lines
// (Exception.pm:98-116).
func parsePropertyString(path, data string, props map[string]*Schema) string {
	res := map[string]string{}
	defaultKey := ""
	for _, part := range strings.Split(data, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if k, v, ok := strings.Cut(part, "="); ok && k != "" && v != "" {
			if _, dup := res[k]; dup {
				return "duplicate key in comma-separated list property: " + k
			}
			s := props[k]
			if s != nil && s.Alias != "" {
				k, s = s.Alias, props[s.Alias]
				if _, dup := res[k]; dup {
					return fmt.Sprintf("key '%s' is already defined (via alias)", k)
				}
			}
			if s == nil {
				return "invalid key in comma-separated list property: " + k
			}
			if s.Type == "boolean" {
				if b, ok := parseBoolean(v); ok {
					v = b
				}
			}
			res[k] = v
		} else if !strings.Contains(part, "=") {
			if defaultKey != "" {
				return "duplicate key in comma-separated list property: " + defaultKey
			}
			for k, s := range props {
				if s.DefaultKey {
					defaultKey = k
					if _, dup := res[k]; dup {
						return "duplicate key in comma-separated list property: " + k
					}
					if s.Type == "boolean" {
						if b, ok := parseBoolean(part); ok {
							part = b
						}
					}
					res[k] = part
					break
				}
			}
			if defaultKey == "" {
				return "value without key, but schema does not define a default key"
			}
		} else {
			return "missing key in comma-separated list property"
		}
	}
	sub := map[string]string{}
	for k, s := range props {
		p := path + "." + k
		if v, ok := res[k]; ok {
			checkProp(p, v, s, sub)
		} else if !s.Optional && s.Alias == "" {
			sub[p] = "property is missing and it is not optional"
		}
	}
	if len(sub) > 0 {
		keys := make([]string, 0, len(sub))
		for k := range sub {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		msg := "format error"
		for _, k := range keys {
			msg += "\n" + k + ": " + sub[k]
		}
		return msg
	}
	return ""
}
