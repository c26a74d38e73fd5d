#!/usr/bin/env python3
"""powercut-summary.py TSV...: the kills of one or more powercut runs
(RUN/powercut.tsv, testdata/vm/powercut.sh) as a Markdown table and counts
per moment, for docs/perf/powercut.md."""
import collections
import sys

rows = []
for p in sys.argv[1:]:
    with open(p) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
print("| # | seed | disk | moment | k | delay s | boot | killed at s | trigger | last phoenix.log line | next boot |")
print("|---|------|------|--------|---|---------|------|-------------|---------|------------------------|-----------|")
for n, r in enumerate(rows, 1):
    cells = [str(n)] + [r.get(k, "").replace("|", "\\|") for k in
                        ("seed", "chain", "kind", "k", "delay_s", "boot", "killed_at_s", "trigger", "last_line", "next_boot")]
    print("| " + " | ".join(cells) + " |")
kills = [r for r in rows if r.get("killed_at_s", "-") != "-"]
by = collections.Counter(r["kind"] for r in kills)
missed = collections.Counter(r["kind"] for r in rows if r.get("killed_at_s", "-") == "-")
print()
print("kills: %d (%s); missed: %d (%s)" % (len(kills), ", ".join("%s %d" % kv for kv in sorted(by.items())),
                                           sum(missed.values()), ", ".join("%s %d" % kv for kv in sorted(missed.items())) or "none"))
