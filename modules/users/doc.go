// Package users is the "users" module: Linux accounts (created or
// converged: shell, supplementary groups), their password hash, sudo
// rights, SSH keys, and the matching Proxmox user with an ACL role.
//
// Accounts are changed with useradd/usermod/chpasswd (with --root DIR when
// the Root is not "/"), so /etc/passwd, shadow and group stay consistent
// with their locks and backups. The password hash travels only on
// chpasswd's stdin, never in argv, logs, errors, Check output or the Store.
// Sudo rights are a file /etc/sudoers.d/phoenix-<name>, mode 0440: one of
// two fixed rules around a name from the seed's user-name grammar, which
// FuzzRenderSudoers holds to the real visudo (so the boot runs none), put
// in place by rename from a name sudo ignores (it contains a '.');
// /etc/sudoers itself is never written. SSH keys
// are merged into ~/.ssh/authorized_keys (keys already there stay, none is
// added twice), owned by the user, modes 0700/0600. Proxmox users and ACLs
// are read with `pveum user list` and `pveum acl list` (JSON) and only
// added when missing.
package users
