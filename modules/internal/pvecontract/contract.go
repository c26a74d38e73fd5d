// Package pvecontract holds the parts of Proxmox VE's published CLI and API
// contract that Phoenix uses, pinned to one proxmox/pve-docs version
// (contract.json, made by ./gen from a pve-docs checkout; see README.md), and
// a checker that validates an argv the way the real tools do before they act.
//
// The fakes of pct, pvesm, pveam, pveum, pvecm and pvesh call Check first, so
// a call that the real tool would refuse fails in tests too, with the real
// tool's message shape and exit status. The checker is a port of pve-common's
// PVE::JSONSchema (get_options, check_prop, parse_property_string) and
// PVE::CLIHandler; every rule cites the upstream file and line.
package pvecontract

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// Contract is the compact form of the published contract.
type Contract struct {
	Source Source           `json:"source"`
	Tools  map[string]*Tool `json:"tools"`
	// API holds the REST methods pvesh may call: path -> HTTP method.
	API map[string]map[string]*Method `json:"api"`
}

// Source names where the contract was taken from.
type Source struct {
	Repo    string   `json:"repo"`
	Commit  string   `json:"commit"`
	Version string   `json:"version"`
	Date    string   `json:"date"`
	License string   `json:"license"`
	Files   []string `json:"files"`
}

// Tool is one CLI program: its commands by their full name ("user add").
type Tool struct {
	Commands map[string]*Command `json:"commands"`
	// Aliases map an alias ("useradd") to the command it names ("user add").
	Aliases map[string]string `json:"aliases,omitempty"`
}

// Command is one CLI command: pve-common CLIHandler's cmddef entry, with
// the schema of every parameter.
type Command struct {
	// Usage is the synopsis line, e.g. "pct create <vmid> <ostemplate> [OPTIONS]".
	Usage string `json:"usage"`
	// API is the REST method the command calls ("POST /nodes/{node}/lxc"),
	// empty for commands the CLI implements itself (then the schema comes
	// from the synopsis alone).
	API string `json:"api,omitempty"`
	// Args are the positional parameters in order.
	Args []Arg `json:"args,omitempty"`
	// ExtraArgs: the command takes free arguments at the end (pct exec).
	ExtraArgs bool `json:"extra_args,omitempty"`
	// Options are the --options by name; an indexed option is stored once
	// as "net[n]" with Schema.Index set.
	Options map[string]*Schema `json:"options,omitempty"`
}

// Arg is one positional parameter.
type Arg struct {
	Name     string  `json:"name"`
	Optional bool    `json:"optional,omitempty"`
	Schema   *Schema `json:"schema"`
}

// Method is one REST method's parameters (for pvesh).
type Method struct {
	Name       string             `json:"name,omitempty"`
	Parameters map[string]*Schema `json:"parameters,omitempty"`
}

// Schema is a JSON-schema property as PVE::JSONSchema knows it, less the
// prose. Props is set for property strings (format given as an object).
type Schema struct {
	Type       string             `json:"type,omitempty"`
	Optional   bool               `json:"optional,omitempty"`
	Enum       []string           `json:"enum,omitempty"`
	Minimum    *float64           `json:"minimum,omitempty"`
	Maximum    *float64           `json:"maximum,omitempty"`
	MinLength  *int               `json:"minLength,omitempty"`
	MaxLength  *int               `json:"maxLength,omitempty"`
	Pattern    string             `json:"pattern,omitempty"`
	Format     string             `json:"format,omitempty"`
	Props      map[string]*Schema `json:"props,omitempty"`
	DefaultKey bool               `json:"default_key,omitempty"`
	Alias      string             `json:"alias,omitempty"`
	Default    string             `json:"default,omitempty"`
	Items      *Schema            `json:"items,omitempty"`
	Typetext   string             `json:"typetext,omitempty"`
	// Deprecated is the deprecation note from the description, if any.
	Deprecated string `json:"deprecated,omitempty"`
	// Index is the number of instances of an indexed option: net[n] has
	// 32 (net0..net31).
	Index int `json:"index,omitempty"`
}

//go:embed contract.json
var contractJSON []byte

var (
	loadOnce sync.Once
	loaded   *Contract
	loadErr  error
)

// Load returns the embedded contract.
func Load() (*Contract, error) {
	loadOnce.Do(func() {
		var c Contract
		if err := json.Unmarshal(contractJSON, &c); err != nil {
			loadErr = fmt.Errorf("pvecontract: embedded contract.json: %w", err)
			return
		}
		loaded = &c
	})
	return loaded, loadErr
}

// MustLoad is Load for callers that cannot go on without it (fakes).
func MustLoad() *Contract {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}
