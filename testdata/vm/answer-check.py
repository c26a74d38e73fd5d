#!/usr/bin/env python3
"""answer-check.py: checks what the e2e answer server recorded (the "answer"
scenario, testdata/vm/answer.sh). Prints PASS/FAIL lines in e2e.sh's format
and exits 1 on any FAIL.

    answer-check.py SERVERDIR STATUS.JSON SERIAL MAC URL SEED.YAML HASHFILE

SERVERDIR holds requests.jsonl (one JSON line per request: method, path,
auth, chosen, status, content_type, body), report-N.json (each report body)
and the two token files. STATUS.JSON is the guest's status.json read from the
powered-off image.
"""
import glob
import json
import os
import sys

srv, status_path, serial, mac, url, seed_path, hash_path = sys.argv[1:8]
fails = 0


def out(ok, name, detail):
    global fails
    if not ok:
        fails += 1
    print("  %s %-28s %s" % ("PASS" if ok else "FAIL", name, str(detail)[:110]))


def load_lines(p):
    try:
        with open(p) as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        return [{"error": str(e)}]


reqs = load_lines(os.path.join(srv, "requests.jsonl"))
answers = [r for r in reqs if r.get("path") == "/answer"]
served = [r for r in answers if r.get("status") == 200]
out(len(served) >= 1, "answer.seed_served",
    "%d request(s) to /answer, %d answered 200: %s" % (len(answers), len(served),
                                                      ", ".join("%s %s" % (r.get("status"), r.get("chosen") or r.get("auth")) for r in answers)))
out(all(r.get("auth") == "ok" for r in reqs), "answer.token_sent",
    "Authorization: Bearer <token> on every request: " + ", ".join("%s %s" % (r.get("path"), r.get("auth")) for r in reqs))

body = served[-1]["body"] if served else {}
if not isinstance(body, dict):
    body = {}
out(body.get("schema", {}).get("version") == "1.0" and (served[-1].get("content_type", "") if served else "").startswith("application/json"),
    "answer.body_json", "schema %s, %s" % (body.get("schema"), served[-1].get("content_type") if served else "-"))
si = body.get("sysinfo", {})
sysdmi = si.get("dmi", {}).get("system", {})
out(sysdmi.get("serial") == serial, "answer.body_dmi_serial",
    "sysinfo.dmi.system = %s" % json.dumps(sysdmi)[:90])
macs = [n.get("mac", "").lower() for n in si.get("network_interfaces", [])]
out(mac.lower() in macs, "answer.body_nic_mac", "sysinfo.network_interfaces = %s" % json.dumps(si.get("network_interfaces"))[:90])
ph = body.get("phoenix", {})
out(bool(ph.get("version")) and bool(ph.get("machine_id")) and not ph.get("seed_digest"), "answer.body_phoenix",
    "phoenix = %s" % json.dumps(ph)[:95])
out(bool(served) and served[-1].get("chosen", "").startswith("serial=" + serial), "answer.chosen_by_serial",
    served[-1].get("chosen") if served else "-")

try:
    with open(status_path) as f:
        st = json.load(f)
except (OSError, ValueError) as e:
    st = {"error": str(e)}
origin = st.get("seed", {}).get("origin", "")
out(st.get("state") == "done" and origin == "url " + url, "answer.status_origin",
    "status.json state %s, seed.origin %r" % (st.get("state"), origin))

reports = []
for p in sorted(glob.glob(os.path.join(srv, "report-*.json")), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0])):
    with open(p) as f:
        raw = f.read()
    try:
        reports.append((raw, json.loads(raw)))
    except ValueError:
        reports.append((raw, {}))
last = reports[-1][1] if reports else {}
mods = last.get("modules", [])
out(last.get("state") == "done", "report.arrived_done",
    "%d report(s), last state %s, modules %s" % (len(reports), last.get("state"),
                                                " ".join("%s=%s" % (m.get("name"), m.get("state")) for m in mods)))
# The seed's sections ran (done), the modules it has no section for were
# skipped, and nothing failed.
ran = {m.get("name"): m.get("state") for m in mods}
out(ran.get("host") == "done" and ran.get("users") == "done"
    and all(v in ("done", "skipped") for v in ran.values()), "report.modules_done",
    " ".join("%s:%s:%.1fs" % (m.get("name"), m.get("state"), m.get("seconds", 0)) for m in mods if m.get("state") != "skipped")
    + " (%d skipped)" % sum(1 for v in ran.values() if v == "skipped"))
rd = last.get("seed", {}).get("digest", "")
sd = st.get("seed", {}).get("digest", "")
out(bool(rd) and rd == sd and last.get("seed", {}).get("origin") == "url " + url, "report.seed_digest",
    "report %s = status.json %s" % (rd[:23], sd[:23]))
out(last.get("dmi", {}).get("system", {}).get("serial") == serial, "report.dmi_serial",
    "dmi.system.serial %s" % last.get("dmi", {}).get("system", {}).get("serial"))

# No secrets: neither token, nor the served password hash, nor a Bearer.
secrets = {}
for name in ("answer.token", "report.token"):
    with open(os.path.join(srv, name)) as f:
        secrets[name] = f.read().strip()
with open(hash_path) as f:
    secrets["password_hash"] = f.read().strip()
hashsalt = secrets["password_hash"].rsplit("$", 1)[0]
leaks = []
for i, (raw, _) in enumerate(reports):
    for name, val in secrets.items():
        if val and val in raw:
            leaks.append("report-%d has %s" % (i + 1, name))
    if hashsalt and hashsalt in raw:
        leaks.append("report-%d has the hash's salt" % (i + 1))
    if "Bearer" in raw:
        leaks.append("report-%d has 'Bearer'" % (i + 1))
for r in reqs:
    raw = json.dumps(r)
    for name in ("answer.token", "report.token"):
        if secrets[name] in raw:
            leaks.append("request body has %s" % name)
out(bool(reports) and not leaks, "report.no_secrets",
    "; ".join(leaks) or "no token, password hash or 'Bearer' in %d report(s) (%d bytes)" % (len(reports), sum(len(r[0]) for r in reports)))
keys = last.get("ssh_host_key_fingerprints") or {}
print("  NOTE report: ssh_host_key_fingerprints %s; host keys are only public ones" % (", ".join(sorted(keys)) or "none"))
sys.exit(1 if fails else 0)
