package pvecontract

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotInContract is returned for a pvesh path outside the REST methods
// the contract holds (/nodes/{node}/network, /cluster/config): the real
// tool may well take it, the contract cannot say.
var ErrNotInContract = errors.New("pvecontract: path not in the contract")

// pveshVerbs maps pvesh's verbs to HTTP methods (pve-manager
// PVE/CLI/pvesh.pm: get/ls GET, create POST, set PUT, delete DELETE).
var pveshVerbs = map[string]string{"get": "GET", "create": "POST", "set": "PUT", "delete": "DELETE"}

// CheckPvesh validates `pvesh VERB PATH [OPTIONS]` against the contract's
// API section: the path must match a method's template ({node} and the
// like are path parameters, checked against their schema), the options
// are that method's other parameters, parsed and checked like any CLI
// call (get_options and check_prop). The refusal shape is the same as for
// the other tools.
func CheckPvesh(args []string) (*Call, error) {
	c, err := Load()
	if err != nil {
		return nil, err
	}
	if len(args) < 2 {
		return nil, &Error{Tool: "pvesh", Code: ExitCode, Msg: "400 not enough arguments\npvesh <get|create|set|delete> <api_path> [OPTIONS]\n"}
	}
	verb, path := args[0], "/"+strings.Trim(args[1], "/")
	method, ok := pveshVerbs[verb]
	if !ok {
		return nil, &Error{Tool: "pvesh", Code: ExitCode, Msg: fmt.Sprintf("ERROR: unknown command 'pvesh %s'\nUSAGE: pvesh <COMMAND> [ARGS] [OPTIONS]\n", verb)}
	}
	tmpl, pathParams := matchPath(c, path)
	if tmpl == "" {
		return nil, fmt.Errorf("%w: %s", ErrNotInContract, path)
	}
	m := c.API[tmpl][method]
	if m == nil {
		// pvesh.pm: "No '$cmd' handler defined for '$path'".
		return nil, &Error{Tool: "pvesh", Command: verb, Code: ExitCode, Msg: fmt.Sprintf("No '%s' handler defined for '%s'\n", verb, path)}
	}
	cmd := &Command{Usage: "pvesh " + verb + " " + tmpl + " [OPTIONS]", Options: map[string]*Schema{}}
	for k, s := range m.Parameters {
		if _, isPath := pathParams[k]; !isPath {
			cmd.Options[k] = s
		}
	}
	call := &Call{Tool: "pvesh", Command: verb + " " + tmpl, Params: map[string]string{}}
	positional, warn, err := cmd.getopt(args[2:], call)
	if err != nil {
		return call, &Error{Tool: "pvesh", Command: call.Command, Code: ExitCode, Msg: warn + "400 " + err.Error() + "\n" + cmd.Usage + "\n"}
	}
	if len(positional) > 0 {
		return call, &Error{Tool: "pvesh", Command: call.Command, Code: ExitCode, Msg: "400 too many arguments\n" + cmd.Usage + "\n"}
	}
	errs := map[string]string{}
	for k, v := range pathParams {
		call.Params[k] = v
		if s := m.Parameters[k]; s != nil {
			checkProp(k, v, s, errs)
		}
	}
	cmd.checkOptions(call, func(k string) bool { _, isPath := pathParams[k]; return isPath }, errs)
	if len(errs) > 0 {
		return call, paramError("pvesh", call.Command, cmd.Usage, errs)
	}
	return call, nil
}

// matchPath finds the template a concrete path instantiates, preferring
// literal segments over {params}.
func matchPath(c *Contract, path string) (string, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best, bestParams, bestLit := "", map[string]string(nil), -1
	for tmpl := range c.API {
		ts := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(ts) != len(segs) {
			continue
		}
		params, lit, ok := map[string]string{}, 0, true
		for i, t := range ts {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
				params[strings.Trim(t, "{}")] = segs[i]
			case t == segs[i]:
				lit++
			default:
				ok = false
			}
		}
		if ok && lit > bestLit {
			best, bestParams, bestLit = tmpl, params, lit
		}
	}
	return best, bestParams
}
