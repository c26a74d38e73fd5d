#!/usr/bin/env python3
"""progress.py STREAM: the live per-module view of `make demo`.

STREAM is the file that qemu's virtio-serial port `e2e.progress` appends to
(guest/phoenix-e2e-check writes it) and that the harness appends its own
events to between boots. One record per line:
  S {...}   status.json of the guest, newlines removed (sent on each change)
  L text    a new line of the guest's /var/log/phoenix/phoenix.log
  H text    a harness event (boot launched, boot ended); "H end" stops this
On a terminal the module table is redrawn in place; otherwise a line is
printed whenever a module changes state. Elapsed times are the host's
clock from the moment a module was first seen running (the guest's clock
is not trusted across reboots), or the module's own `seconds` once done."""
import json
import os
import sys
import time

path = sys.argv[1]
tty = sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"
t_start = time.time()
status = {}
seen_running = {}  # module -> host time first seen running
last_log = {}  # module -> its last phoenix.log message
last_state = {}  # module -> (state, step) last printed (non-tty mode)
drawn = 0  # lines of the table on screen (tty mode)


def module_step(m):
    """The current step of a running module: its running item, else the
    run's progress text, else its last log line."""
    for it in m.get("items") or []:
        if it.get("state") == "running":
            return f"{it.get('name', '')} {it.get('detail', '')}".strip()
    prog = status.get("progress") or ""
    if prog.startswith(m.get("name", "") + " ") and ": " in prog:
        return prog.split(": ", 1)[1]
    return last_log.get(m.get("name"), "")


def elapsed(m):
    name, state = m.get("name"), m.get("state")
    if state in ("done", "failed") and m.get("seconds"):
        return f"{m['seconds']:6.1f}s"
    if state == "running" and name in seen_running:
        return f"{time.time() - seen_running[name]:6.1f}s"
    return "      -"


def table():
    mods = status.get("modules") or []
    head = f"phoenix: {status.get('state', 'waiting for the guest')}"
    if status.get("progress"):
        head += f" ({status['progress']})"
    lines = [f"[{time.time() - t_start:5.0f}s] {head}"[:120]]
    for m in mods:
        if m.get("state") in ("skipped", None):
            continue
        step = module_step(m) if m.get("state") in ("running", "rebooting") else (m.get("detail") or "")
        if m.get("state") == "failed" and m.get("failure"):
            step = m["failure"].get("error", step)
        lines.append(f"  {m.get('name', '?'):<10} {m.get('state', '?'):<10} {elapsed(m)}  {step}"[:120])
    return lines


def redraw():
    global drawn
    if not tty:
        return
    out = []
    if drawn:
        out.append(f"\x1b[{drawn}F")  # to the start of the table
    for line in table():
        out.append("\x1b[2K" + line + "\n")
    out.append("\x1b[J")  # clear what a longer table left
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    drawn = len(table())


def event(text):
    """A line that scrolls above the table."""
    global drawn
    if tty and drawn:
        sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
        drawn = 0
    print(f"[{time.time() - t_start:5.0f}s] {text}", flush=True)
    redraw()


def on_status(st):
    global status
    status = st
    now = time.time()
    for m in st.get("modules") or []:
        name, state = m.get("name"), m.get("state")
        if state == "running":
            seen_running.setdefault(name, now)
        elif state == "pending":
            seen_running.pop(name, None)  # re-run after a reboot
    changes()
    redraw()


def changes():
    """Off a terminal: one line per module whose state or step changed."""
    if tty:
        return
    for m in status.get("modules") or []:
        name, state = m.get("name"), m.get("state")
        if state in ("skipped", "pending", None):
            continue
        step = module_step(m) if state == "running" else (m.get("detail") or "")
        if state == "failed" and m.get("failure"):
            step = m["failure"].get("error", step)
        if last_state.get(name) != (state, step):
            last_state[name] = (state, step)
            print(f"[{time.time() - t_start:5.0f}s]   {name:<10} {state:<10} {elapsed(m)}  {step}"[:120], flush=True)


def main():
    while not os.path.exists(path):
        time.sleep(0.2)
    with open(path, errors="replace") as f:
        buf = ""
        tick = 0.0
        while True:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.2)
                if tty and time.time() - tick > 1:  # keep the running clock moving
                    tick = time.time()
                    redraw()
                continue
            buf += chunk
            if not buf.endswith("\n"):
                continue
            line, buf = buf.rstrip("\r\n"), ""
            kind, _, rest = line.partition(" ")
            if kind == "S":
                try:
                    on_status(json.loads(rest))
                except ValueError:
                    pass  # a record cut by a reboot
            elif kind == "L":
                # "2026-12-01T10:00:00Z zfs: creating pool tank"
                parts = rest.split(" ", 2)
                if len(parts) == 3 and parts[1].endswith(":"):
                    last_log[parts[1][:-1]] = parts[2]
                changes()
                redraw()
            elif kind == "H":
                if rest == "end":
                    break
                event(rest)
    if tty:
        redraw()
    else:
        for line in table():
            print(line)


try:
    main()
except KeyboardInterrupt:
    pass
