#!/usr/bin/env python3
"""status-check.py STATUS_JSON RUNDIR FIRST_BOOT: host-side checks of a
finished e2e provisioning run, from status.json (read out of the powered-off
image with debugfs) and the console logs of the boots (E2E lines written by
guest/phoenix-e2e-check). Prints PASS/FAIL lines; exits 1 on any FAIL."""
import glob, json, re, sys

status_path, rundir, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
fails = 0


def report(ok, name, detail=""):
    global fails
    fails += not ok
    print(f"  {'PASS' if ok else 'FAIL'} {name:<28} {detail}"[:160])


try:
    st = json.load(open(status_path))
except Exception as e:  # noqa: BLE001 - any unreadable status is a failure
    report(False, "status.json.readable", f"{status_path}: {e}")
    sys.exit(1)

report(st.get("state") == "done", "status.json.state_done", f"state={st.get('state')} error={st.get('error', '')[:80]}")
origin = st.get("seed", {}).get("origin", "")
report(bool(re.search(r"phoenix|label|/dev/", origin, re.I)), "status.json.seed_from_volume", f"origin={origin!r}")
mods = {m["name"]: m for m in st.get("modules", [])}
expect_active = ["host", "kernel", "zfs", "users", "nfs", "samba"]
for name in expect_active:
    m = mods.get(name)
    report(m is not None and m.get("state") == "done", f"status.json.{name}_done",
           "missing" if m is None else f"state={m.get('state')} {m.get('seconds', 0):.1f}s reboots={m.get('reboots', 0)}")
for name, m in mods.items():
    if name not in expect_active:
        report(m.get("state") in ("skipped", "pending", None), f"status.json.{name}_inactive", f"state={m.get('state')}")
k = mods.get("kernel", {})
report(k.get("reboots") == 1, "status.json.kernel_one_reboot", f"reboots={k.get('reboots')}")
others = {n: m.get("reboots", 0) for n, m in mods.items() if n != "kernel" and m.get("reboots")}
report(not others, "status.json.no_other_reboots", str(others or "none"))

# Per boot: boot ids and which modules logged something.
boots = []
for path in sorted(glob.glob(f"{rundir}/console-*.log"), key=lambda p: int(re.search(r"-(\d+)\.log$", p).group(1))):
    n = int(re.search(r"-(\d+)\.log$", path).group(1))
    if n < first:
        continue
    text = open(path, errors="replace").read()
    bid = re.search(r"E2E BOOT n=\d+ mode=\S+ boot_id=(\S+)", text)
    logmods = re.findall(r"E2E LOG \S+ ([a-z]+): ", text)
    boots.append((n, bid.group(1) if bid else None, logmods, "reboot: Restarting system" in text))
ids = [b[1] for b in boots]
report(len(set(ids)) == len(ids) and None not in ids, "boots.distinct_boot_ids", " ".join((i or "?")[:8] for i in ids))
if len(boots) >= 2:
    b1, b2 = boots[0], boots[1]
    report(b1[3] and "kernel" in b1[2], "boots.first_reboots_at_kernel", f"boot1 modules={sorted(set(b1[2]))}")
    seen = [m for m in b2[2] if m != "phoenix"]
    report(bool(seen) and seen[0] == "kernel" and "host" not in seen, "boots.resumed_at_kernel",
           f"boot2 first module={seen[0] if seen else None}, host re-run={'host' in seen}")
else:
    report(False, "boots.resumed_at_kernel", f"only {len(boots)} boot(s)")
sys.exit(1 if fails else 0)
