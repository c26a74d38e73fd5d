// Package samba is the standalone Samba server module.
//
// Phoenix's configuration lives in its own file, /etc/samba/phoenix.conf,
// which opens with its own [global] section and then holds the shares. The
// admin's /etc/samba/smb.conf is kept byte for byte except for one managed
// block at its end holding `include = /etc/samba/phoenix.conf`: at the end
// so that the included sections cannot swallow any of the admin's lines,
// and so that Phoenix's globals (workgroup, server role = standalone
// server, passdb backend = tdbsam, server min protocol = SMB2) win.
//
// Every new configuration is checked by the real `testparm -s` before it is
// put in place: the candidate (smb.conf with phoenix.conf inlined where the
// include goes) is written to a scratch file and tested; a config testparm
// rejects, or whose parameters it ignores, never replaces the running one.
// The one exception is a candidate whose answer is known: smb.conf is
// Debian's default (or absent) and the seed sets no samba.global, so every
// line is either Debian's or one Render writes from a typed key, which
// TestKnownGoodTestparm and FuzzRenderSmbConf hold to the real testparm
// (knownGood).
// smbd then reloads with `smbcontrol smbd reload-config`, or is enabled and
// started. A Store flag set before the files change makes a crash before
// the reload still reload on the rerun.
//
// Passwords never reach argv. A user with password_file gets
// `smbpasswd -a -s NAME` with the password twice on stdin; a user with an NT
// hash is imported with `pdbedit -i smbpasswd:FILE`, FILE being a 0600
// smbpasswd-format line in a 0700 directory under /run (tmpfs) removed
// right after. pdbedit has no stdin path for a hash (--set-nt-hash takes it
// as an argument), hence the file. The passdb is read with `pdbedit -L -w`
// and compared by NT hash, so reruns change nothing.
package samba
