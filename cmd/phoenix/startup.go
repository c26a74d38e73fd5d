package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// mainStarted is when package initialisation reached this file, just
// before main, on the monotonic clock.
var mainStarted = time.Now()

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, fixed at 100 for
// user space on every architecture (Linux include/asm-generic/param.h).
const userHZ = 100

// processSeconds is how long this process took from its start to main
// (systemd's set-up of the forked child, the exec, the Go runtime and
// package initialisation, the pages of the binary read from disk): the
// kernel's start time of the process, taken at fork (proc(5),
// /proc/self/stat field 22, clock ticks since boot) against the time since
// boot now (/proc/uptime, the same boot-time clock), less the time since
// main began. 0 when /proc cannot say; 10 ms resolution.
func processSeconds() float64 {
	now := time.Since(mainStarted).Seconds()
	up, err1 := os.ReadFile("/proc/uptime")
	st, err2 := os.ReadFile("/proc/self/stat")
	if err1 != nil || err2 != nil {
		return 0
	}
	f := strings.Fields(string(up))
	// Field 2 (comm) may hold spaces and parentheses: count from the last ')'.
	i := strings.LastIndexByte(string(st), ')')
	if len(f) == 0 || i < 0 {
		return 0
	}
	rest := strings.Fields(string(st)[i+1:]) // rest[0] is field 3 (state)
	if len(rest) < 20 {
		return 0
	}
	uptime, err1 := strconv.ParseFloat(f[0], 64)
	ticks, err2 := strconv.ParseUint(rest[19], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return max(0, uptime-float64(ticks)/userHZ-now)
}

// processSched is how the main thread spent that time so far
// (/proc/self/schedstat, proc(5): nanoseconds on a CPU, then waiting for
// one); the rest of processSeconds was spent blocked (the disk, a socket).
// From fork on: systemd's set-up of the child before its exec is in it.
func processSched() (onCPU, waiting float64) {
	b, err := os.ReadFile("/proc/self/schedstat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0
	}
	run, err1 := strconv.ParseUint(f[0], 10, 64)
	wait, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return float64(run) / 1e9, float64(wait) / 1e9
}
