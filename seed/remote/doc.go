// Package remote fetches seeds from answer servers: the Proxmox automated
// installer's HTTP answer protocol (POST a JSON body of DMI identifiers and
// NICs, Bearer token, SHA-256 certificate pinning; as served by Proxmox
// Datacenter Manager), or GET with Matchbox-style selectors for static
// servers. It also finds the server by DHCP option or DNS TXT record and
// posts run reports (webhook). TLS is crypto/tls with a small HTTP/1.1
// client of its own; see docs/design-notes.md.
package remote
