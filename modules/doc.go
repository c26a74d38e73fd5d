// Package modules defines the Module interface that every provisioning step
// implements, and the Env a module runs in. Each module lives in its own
// package below this one; modules/all holds the ordered default list.
package modules
