package seed

// This file is the shape of seed format v1. Every key a seed may hold is a
// field here; the yaml/json tags are the keys. Validation lives in
// validate.go, the JSON Schema in schema.json, and docs/seed.md documents
// every key. Keep all four in step: tests compare them.

// Version is the only seed format version this build understands.
const Version = 1

// Seed is a whole seed file. Every section is optional and maps one-to-one to
// a module of the same name.
type Seed struct {
	Version  int       `yaml:"version" json:"version"`
	Host     *Host     `yaml:"host,omitempty" json:"host,omitempty"`
	Network  *Network  `yaml:"network,omitempty" json:"network,omitempty"`
	Repos    *Repos    `yaml:"repos,omitempty" json:"repos,omitempty"`
	Kernel   *Kernel   `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	NVIDIA   *NVIDIA   `yaml:"nvidia,omitempty" json:"nvidia,omitempty"`
	ZFS      *ZFS      `yaml:"zfs,omitempty" json:"zfs,omitempty"`
	Users    []User    `yaml:"users,omitempty" json:"users,omitempty"`
	NFS      *NFS      `yaml:"nfs,omitempty" json:"nfs,omitempty"`
	Samba    *Samba    `yaml:"samba,omitempty" json:"samba,omitempty"`
	Firewall *Firewall `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	LXC      *LXC      `yaml:"lxc,omitempty" json:"lxc,omitempty"`
}

// Host is the machine's identity and clock.
type Host struct {
	Hostname string   `yaml:"hostname" json:"hostname"`
	Domain   string   `yaml:"domain,omitempty" json:"domain,omitempty"`
	Timezone string   `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	NTP      []string `yaml:"ntp,omitempty" json:"ntp,omitempty"`
}

// Network is the host's bridges in the ifupdown2 format Proxmox uses.
type Network struct {
	Management Bridge   `yaml:"management" json:"management"`
	Bridges    []Bridge `yaml:"bridges,omitempty" json:"bridges,omitempty"`
	DNS        []string `yaml:"dns,omitempty" json:"dns,omitempty"`
	Search     []string `yaml:"search,omitempty" json:"search,omitempty"`
	// Rollback, when true (the default), restores the previous files if the
	// gateway is unreachable after ifreload.
	Rollback *bool `yaml:"rollback,omitempty" json:"rollback,omitempty"`
}

// Bridge is one Linux bridge (vmbrN).
type Bridge struct {
	Name      string   `yaml:"name" json:"name"`
	Ports     []string `yaml:"ports,omitempty" json:"ports,omitempty"`
	Address   string   `yaml:"address,omitempty" json:"address,omitempty"` // CIDR
	Gateway   string   `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	VLANAware bool     `yaml:"vlan_aware,omitempty" json:"vlan_aware,omitempty"`
	VIDs      string   `yaml:"vids,omitempty" json:"vids,omitempty"` // e.g. "2-4094"
	MTU       int      `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	Comment   string   `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// Repos is the apt repository set-up of a Proxmox host.
type Repos struct {
	Enterprise     bool     `yaml:"enterprise,omitempty" json:"enterprise,omitempty"`
	NoSubscription *bool    `yaml:"no_subscription,omitempty" json:"no_subscription,omitempty"` // default true
	Ceph           string   `yaml:"ceph,omitempty" json:"ceph,omitempty"`                       // none, quincy, reef, squid
	Update         *bool    `yaml:"update,omitempty" json:"update,omitempty"`                   // default true
	DistUpgrade    bool     `yaml:"dist_upgrade,omitempty" json:"dist_upgrade,omitempty"`
	Packages       []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	Proxy          string   `yaml:"proxy,omitempty" json:"proxy,omitempty"`
	ForceIPv4      bool     `yaml:"force_ipv4,omitempty" json:"force_ipv4,omitempty"`
}

// Kernel is the kernel command line and module set-up.
type Kernel struct {
	Cmdline   []string          `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
	Modules   []string          `yaml:"modules,omitempty" json:"modules,omitempty"`
	Blacklist []string          `yaml:"blacklist,omitempty" json:"blacklist,omitempty"`
	Options   map[string]string `yaml:"options,omitempty" json:"options,omitempty"` // module -> "opt=val ..."
}

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

// ZFS is pools, datasets and the Proxmox storages on them.
type ZFS struct {
	ARCMax   string    `yaml:"arc_max,omitempty" json:"arc_max,omitempty"` // e.g. 32G
	Pools    []Pool    `yaml:"pools,omitempty" json:"pools,omitempty"`
	Datasets []Dataset `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Storages []Storage `yaml:"storages,omitempty" json:"storages,omitempty"`
}

// Pool is one zpool. Layout single/mirror/raidzN uses Disks; layout stripe
// uses VDevs, each a mirror or raidz group.
type Pool struct {
	Name       string            `yaml:"name" json:"name"`
	Layout     string            `yaml:"layout,omitempty" json:"layout,omitempty"` // single, mirror, raidz1, raidz2, raidz3, stripe
	Disks      []string          `yaml:"disks,omitempty" json:"disks,omitempty"`
	VDevs      []VDev            `yaml:"vdevs,omitempty" json:"vdevs,omitempty"`
	Ashift     int               `yaml:"ashift,omitempty" json:"ashift,omitempty"`
	Options    map[string]string `yaml:"options,omitempty" json:"options,omitempty"`       // zpool -o
	Properties map[string]string `yaml:"properties,omitempty" json:"properties,omitempty"` // zpool -O (root filesystem)
	Mountpoint string            `yaml:"mountpoint,omitempty" json:"mountpoint,omitempty"`
	Wipe       bool              `yaml:"wipe,omitempty" json:"wipe,omitempty"`
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"` // exists already; never created
}

// VDev is one top-level vdev of a striped pool.
type VDev struct {
	Type  string   `yaml:"type" json:"type"` // mirror, raidz1, raidz2, raidz3
	Disks []string `yaml:"disks" json:"disks"`
}

// Dataset is one ZFS filesystem. Its pool is the first path element of Name.
type Dataset struct {
	Name       string            `yaml:"name" json:"name"`
	Properties map[string]string `yaml:"properties,omitempty" json:"properties,omitempty"`
	Mountpoint string            `yaml:"mountpoint,omitempty" json:"mountpoint,omitempty"`
	Owner      string            `yaml:"owner,omitempty" json:"owner,omitempty"` // user[:group] of the mountpoint
	Mode       string            `yaml:"mode,omitempty" json:"mode,omitempty"`   // e.g. "0775"
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
}

// Storage is one Proxmox storage (pvesm) on a dataset.
type Storage struct {
	ID       string   `yaml:"id" json:"id"`
	Type     string   `yaml:"type" json:"type"` // zfspool or dir
	Dataset  string   `yaml:"dataset" json:"dataset"`
	Content  []string `yaml:"content" json:"content"`
	Sparse   *bool    `yaml:"sparse,omitempty" json:"sparse,omitempty"` // zfspool; default true
	External bool     `yaml:"external,omitempty" json:"external,omitempty"`
}

// User is one Linux user, optionally also a Proxmox user.
type User struct {
	Name              string       `yaml:"name" json:"name"`
	PasswordHash      string       `yaml:"password_hash,omitempty" json:"password_hash,omitempty"` // crypt(3) or ! / *
	Groups            []string     `yaml:"groups,omitempty" json:"groups,omitempty"`
	Sudo              string       `yaml:"sudo,omitempty" json:"sudo,omitempty"` // "", "password" or "nopasswd"
	Shell             string       `yaml:"shell,omitempty" json:"shell,omitempty"`
	SSHAuthorizedKeys []string     `yaml:"ssh_authorized_keys,omitempty" json:"ssh_authorized_keys,omitempty"`
	Proxmox           *ProxmoxUser `yaml:"proxmox,omitempty" json:"proxmox,omitempty"`
}

// ProxmoxUser makes the user NAME@realm in Proxmox with a role on a path.
type ProxmoxUser struct {
	Realm string `yaml:"realm,omitempty" json:"realm,omitempty"` // default pam
	Role  string `yaml:"role" json:"role"`
	Path  string `yaml:"path,omitempty" json:"path,omitempty"` // ACL path, default /
}

// NFS is the kernel NFS server's exports.
type NFS struct {
	Exports []Export `yaml:"exports" json:"exports"`
}

// Export is one exported path.
type Export struct {
	Path    string         `yaml:"path" json:"path"`
	Clients []ExportClient `yaml:"clients" json:"clients"`
}

// ExportClient is one client spec (host, CIDR, wildcard) and its options.
type ExportClient struct {
	Host    string   `yaml:"host" json:"host"`
	Options []string `yaml:"options,omitempty" json:"options,omitempty"`
}

// Samba is a standalone Samba server.
type Samba struct {
	Workgroup    string            `yaml:"workgroup,omitempty" json:"workgroup,omitempty"`
	ServerString string            `yaml:"server_string,omitempty" json:"server_string,omitempty"`
	Global       map[string]string `yaml:"global,omitempty" json:"global,omitempty"` // extra [global] settings
	Users        []SambaUser       `yaml:"users,omitempty" json:"users,omitempty"`
	Shares       []Share           `yaml:"shares,omitempty" json:"shares,omitempty"`
}

// SambaUser is a tdbsam user. Exactly one of NTHash and PasswordFile is set.
type SambaUser struct {
	Name         string `yaml:"name" json:"name"`
	NTHash       string `yaml:"nt_hash,omitempty" json:"nt_hash,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
}

// Share is one Samba share.
type Share struct {
	Name          string   `yaml:"name" json:"name"`
	Path          string   `yaml:"path" json:"path"`
	Comment       string   `yaml:"comment,omitempty" json:"comment,omitempty"`
	ReadOnly      bool     `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Browseable    *bool    `yaml:"browseable,omitempty" json:"browseable,omitempty"` // default true
	GuestOK       bool     `yaml:"guest_ok,omitempty" json:"guest_ok,omitempty"`
	ValidUsers    []string `yaml:"valid_users,omitempty" json:"valid_users,omitempty"` // names or @group
	CreateMask    string   `yaml:"create_mask,omitempty" json:"create_mask,omitempty"`
	DirectoryMask string   `yaml:"directory_mask,omitempty" json:"directory_mask,omitempty"`
	Owner         string   `yaml:"owner,omitempty" json:"owner,omitempty"` // user[:group] of the share directory
	Mode          string   `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// Firewall is the Proxmox host firewall (pve-firewall host.fw).
type Firewall struct {
	Enable *bool          `yaml:"enable,omitempty" json:"enable,omitempty"` // default true
	Rules  []FirewallRule `yaml:"rules,omitempty" json:"rules,omitempty"`
}

// FirewallRule is one inbound rule.
type FirewallRule struct {
	Action  string `yaml:"action" json:"action"` // ACCEPT, DROP, REJECT
	Proto   string `yaml:"proto,omitempty" json:"proto,omitempty"`
	Dport   string `yaml:"dport,omitempty" json:"dport,omitempty"`
	Source  string `yaml:"source,omitempty" json:"source,omitempty"`
	Comment string `yaml:"comment,omitempty" json:"comment,omitempty"`
}

// LXC is the containers and their shared defaults.
type LXC struct {
	Defaults   *ContainerDefaults    `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Parallel   int                   `yaml:"parallel,omitempty" json:"parallel,omitempty"` // default 2
	Containers map[string]*Container `yaml:"containers" json:"containers"`                 // keyed by CTID
}

// ContainerDefaults fill unset fields of every container.
type ContainerDefaults struct {
	Storage      string    `yaml:"storage,omitempty" json:"storage,omitempty"`
	Template     string    `yaml:"template,omitempty" json:"template,omitempty"`
	Memory       int       `yaml:"memory,omitempty" json:"memory,omitempty"`
	Swap         *int      `yaml:"swap,omitempty" json:"swap,omitempty"`
	Cores        int       `yaml:"cores,omitempty" json:"cores,omitempty"`
	Bridge       string    `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	Unprivileged *bool     `yaml:"unprivileged,omitempty" json:"unprivileged,omitempty"`
	Onboot       *bool     `yaml:"onboot,omitempty" json:"onboot,omitempty"`
	Features     *Features `yaml:"features,omitempty" json:"features,omitempty"`
	Nameserver   string    `yaml:"nameserver,omitempty" json:"nameserver,omitempty"`
}

// Container is one LXC container, keyed by CTID in LXC.Containers.
type Container struct {
	Hostname       string       `yaml:"hostname" json:"hostname"`
	Description    string       `yaml:"description,omitempty" json:"description,omitempty"`
	Tags           []string     `yaml:"tags,omitempty" json:"tags,omitempty"`
	Template       string       `yaml:"template,omitempty" json:"template,omitempty"` // storage:vztmpl/name
	TemplateURL    string       `yaml:"template_url,omitempty" json:"template_url,omitempty"`
	TemplateFile   string       `yaml:"template_file,omitempty" json:"template_file,omitempty"` // on the seed volume
	TemplateSHA256 string       `yaml:"template_sha256,omitempty" json:"template_sha256,omitempty"`
	CloneFrom      *CloneFrom   `yaml:"clone_from,omitempty" json:"clone_from,omitempty"`
	Memory         int          `yaml:"memory,omitempty" json:"memory,omitempty"` // MiB, 512..131072
	Swap           *int         `yaml:"swap,omitempty" json:"swap,omitempty"`     // MiB
	Cores          int          `yaml:"cores,omitempty" json:"cores,omitempty"`   // 1..32
	RootFS         *RootFS      `yaml:"rootfs,omitempty" json:"rootfs,omitempty"`
	Net            []NetIf      `yaml:"net,omitempty" json:"net,omitempty"`
	Nameserver     string       `yaml:"nameserver,omitempty" json:"nameserver,omitempty"`
	Unprivileged   *bool        `yaml:"unprivileged,omitempty" json:"unprivileged,omitempty"` // default true
	Features       *Features    `yaml:"features,omitempty" json:"features,omitempty"`
	Onboot         *bool        `yaml:"onboot,omitempty" json:"onboot,omitempty"`
	Startup        *Startup     `yaml:"startup,omitempty" json:"startup,omitempty"`
	Mounts         []Mount      `yaml:"mounts,omitempty" json:"mounts,omitempty"`
	GPUs           []int        `yaml:"gpus,omitempty" json:"gpus,omitempty"` // host GPU indexes passed through
	DependsOn      []int        `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	Provision      *Provision   `yaml:"provision,omitempty" json:"provision,omitempty"`
	HealthCheck    *HealthCheck `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	Snapshots      []string     `yaml:"snapshots,omitempty" json:"snapshots,omitempty"` // taken after provisioning
	Adopt          bool         `yaml:"adopt,omitempty" json:"adopt,omitempty"`         // take over an existing CT
	External       bool         `yaml:"external,omitempty" json:"external,omitempty"`   // exists; only a clone source
}

// CloneFrom makes a container a clone of another's snapshot.
type CloneFrom struct {
	CTID     int    `yaml:"ctid" json:"ctid"`
	Snapshot string `yaml:"snapshot" json:"snapshot"`
	Full     bool   `yaml:"full,omitempty" json:"full,omitempty"`
}

// RootFS is the container's root volume.
type RootFS struct {
	Storage string `yaml:"storage,omitempty" json:"storage,omitempty"`
	Size    int    `yaml:"size" json:"size"` // GiB, 1..1024
}

// NetIf is one container network interface (netN).
type NetIf struct {
	Name   string `yaml:"name,omitempty" json:"name,omitempty"` // default ethN
	Bridge string `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	IP     string `yaml:"ip,omitempty" json:"ip,omitempty"` // CIDR, dhcp or manual
	GW     string `yaml:"gw,omitempty" json:"gw,omitempty"`
	HWAddr string `yaml:"hwaddr,omitempty" json:"hwaddr,omitempty"`
	VLAN   int    `yaml:"vlan,omitempty" json:"vlan,omitempty"`
	MTU    int    `yaml:"mtu,omitempty" json:"mtu,omitempty"`
}

// Features are pct --features flags.
type Features struct {
	Nesting bool `yaml:"nesting,omitempty" json:"nesting,omitempty"`
	Keyctl  bool `yaml:"keyctl,omitempty" json:"keyctl,omitempty"`
	Fuse    bool `yaml:"fuse,omitempty" json:"fuse,omitempty"`
}

// Startup is pct --startup order,up,down.
type Startup struct {
	Order int `yaml:"order,omitempty" json:"order,omitempty"`
	Up    int `yaml:"up,omitempty" json:"up,omitempty"`
	Down  int `yaml:"down,omitempty" json:"down,omitempty"`
}

// Mount is one mpN: a ZFS dataset or a host path bound into the container.
type Mount struct {
	Dataset  string `yaml:"dataset,omitempty" json:"dataset,omitempty"`
	HostPath string `yaml:"host_path,omitempty" json:"host_path,omitempty"`
	Path     string `yaml:"path" json:"path"` // inside the container
	ReadOnly bool   `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Provision is what runs inside a container after it first starts.
type Provision struct {
	Features []string `yaml:"features,omitempty" json:"features,omitempty"` // base, docker, nvidia
	Locale   string   `yaml:"locale,omitempty" json:"locale,omitempty"`
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	Scripts  []Script `yaml:"scripts,omitempty" json:"scripts,omitempty"`
}

// Script is a file from the seed volume pushed into the container and run.
type Script struct {
	File string   `yaml:"file" json:"file"` // relative to the seed volume
	Args []string `yaml:"args,omitempty" json:"args,omitempty"`
}

// HealthCheck is a command run inside the container until it succeeds.
type HealthCheck struct {
	Command  []string `yaml:"command" json:"command"`
	Retries  int      `yaml:"retries,omitempty" json:"retries,omitempty"`   // default 5
	Interval string   `yaml:"interval,omitempty" json:"interval,omitempty"` // Go duration, default 5s
}
