// Package nfs is the kernel NFS server module. Phoenix's exports live in
// their own file, /etc/exports.d/phoenix.exports, written atomically: the
// admin's /etc/exports is never opened for writing (the bash original
// truncated it). Client specs and options are validated before anything is
// written; then `exportfs -ra` loads the table, nfs-server is enabled and
// started, and `exportfs -v` is parsed to verify that every export is live.
//
// The exports(5) parser here (ParseExports) reads both exports files and
// the exports(5)-like output of `exportfs -v`; the fake exportfs uses it to
// load the files the way the real one does.
package nfs
