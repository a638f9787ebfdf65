#!/usr/bin/env python3
"""Checks deploy/grafana/svckit-dashboard.json: valid JSON, every panel's PromQL parses (promtool,
with Grafana's variables filled in), and every svckit_* metric it names is one svckit exports
(named in docs/observability.md's tables)."""
import json, pathlib, re, subprocess, sys, tempfile

root = pathlib.Path(sys.argv[1])
dash = json.loads((root / "deploy/grafana/svckit-dashboard.json").read_text())
docs = (root / "docs/observability.md").read_text() + (root / "docs/svckitd.md").read_text() + \
    (root / "docs/client.md").read_text() + (root / "docs/gateway.md").read_text() + (root / "docs/health.md").read_text() + \
    (root / "docs/balancing.md").read_text()
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
if not exprs:
    sys.exit("no panel queries")
bad = []
rules = {"groups": [{"name": "dashboard", "rules": []}]}
for i, e in enumerate(exprs):
    filled = e.replace("$__rate_interval", "5m").replace("$service", ".*")
    rules["groups"][0]["rules"].append({"record": "dashboard:q%d" % i, "expr": filled})
    for metric in re.findall(r"\b(svckit_[a-z_]+?)(?:_bucket)?\b", e):
        if metric not in docs:
            bad.append("%s is not a documented metric" % metric)
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    json.dump(rules, f)  # JSON is YAML
checked = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
if checked.returncode != 0:
    bad.append(checked.stdout + checked.stderr)
for line in bad:
    print("check_grafana_dashboard: " + line, file=sys.stderr)
sys.exit(1 if bad else 0)
