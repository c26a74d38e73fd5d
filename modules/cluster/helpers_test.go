package cluster_test

import "github.com/phoenix-pve/phoenix/bootstrap/host"

func testkitOwner() host.Owner { return host.Owner{UID: -1, GID: -1} }

func hostCmd(name string, args []string, stdin string) host.Cmd {
	return host.Cmd{Name: name, Args: args, Stdin: []byte(stdin)}
}
