"""contrib/grafana/sesgate.json: the dashboard is valid and self-consistent,
and every metric its PromQL names exists in a real /metrics scrape of a
running gateway, with the labels the queries use, and is rated or not as
its type requires (rate/increase on counters and histogram series only)."""
import json
import os
import re
import smtplib
import urllib.request

from conftest import TOP, free_port, simple_message

DASHBOARD = os.path.join(TOP, "contrib", "grafana", "sesgate.json")
METRIC = re.compile(r"\bsesgate_[a-z0-9_]+")
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*$")
SELECTOR = re.compile(r"\b(sesgate_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*,?')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
VARREF = re.compile(r"\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))")
BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
# Labels Prometheus adds at scrape time.
TARGET_LABELS = {"instance", "job"}
# Families declared on every scrape but with samples only once SES events
# have been applied (needs SNS); their labels, for the selector check.
EMPTY_UNTIL_EVENTS = {"sesgate_ses_events_today": {"tenant", "type"}}


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(dash):
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def queries(dash):
    """(where, expr, legendFormat) for every PromQL query, variables included."""
    out = []
    for p in all_panels(dash):
        for t in p.get("targets", []):
            out.append(("panel %d %r %s" % (p["id"], p["title"], t["refId"]), t["expr"],
                        t.get("legendFormat", "")))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q)
            assert m, "variable %s: not label_values(SELECTOR, LABEL): %r" % (v["name"], q)
            out.append(("variable " + v["name"], m.group(1), "{{%s}}" % m.group(2)))
    return out


def test_dashboard_self_consistent():
    dash = load()
    assert dash["schemaVersion"] >= 36
    assert dash["title"] and dash["uid"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert len(variables) == len(dash["templating"]["list"]), "duplicate variable names"
    ds_vars = {n for n, v in variables.items() if v["type"] == "datasource"}
    assert ds_vars and all(variables[n]["query"] == "prometheus" for n in ds_vars)
    for name in ("instance", "tenant"):
        assert variables[name]["type"] == "query", name
    assert "sesgate_queue_depth" in variables["tenant"]["definition"]
    assert re.search(r",\s*tenant\s*\)$", variables["tenant"]["definition"])

    def ds_ok(ds, where):
        assert isinstance(ds, dict) and ds.get("type") == "prometheus", where
        m = re.fullmatch(r"\$\{([A-Za-z0-9_]+)\}", ds.get("uid", ""))
        assert m and m.group(1) in ds_vars, "%s: datasource %r" % (where, ds)

    for v in variables.values():
        if v["type"] == "query":
            ds_ok(v.get("datasource"), "variable " + v["name"])

    panels = all_panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = {}
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, "%r overlaps %r" % (p["title"], cells[(x, y)])
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        where = "panel %d %r" % (p["id"], p["title"])
        assert p.get("title"), where
        ds_ok(p.get("datasource"), where)
        targets = p.get("targets") or []
        assert targets, where + ": no targets"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), where + ": duplicate refIds"
        for t in targets:
            assert t.get("expr", "").strip(), where + ": target without expr"
            ds_ok(t.get("datasource", p["datasource"]), where)
    titles = {p["title"] for p in panels if p["type"] == "row"}
    assert {"SMTP", "Queue", "Delivery", "Tenants", "SES events"} <= titles

    for where, expr, _ in queries(dash):
        # balanced brackets outside string literals
        stack = []
        for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
            if ch in "([{":
                stack.append(ch)
            elif ch in ")]}":
                assert stack and "([{"[")]}".index(ch)] == stack.pop(), where + ": " + expr
        assert not stack, where + ": " + expr
        for m in VARREF.finditer(expr):
            name = m.group(1) or m.group(2)
            assert name in variables or name in BUILTIN_VARS, "%s: unknown $%s" % (where, name)
        assert METRIC.search(expr), where + ": no sesgate metric in " + expr


def scrape_families(text):
    """({family: type}, {sample name: set of label names})"""
    types, samples = {}, {}
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, kind = ln.split()
            types[name] = kind
        elif ln and not ln.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", ln)
            assert m, ln
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(2) or ""))
            samples.setdefault(m.group(1), set()).update(labels)
    return types, samples


def family_of(name, types):
    if name in types:
        return name
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if base != name and types.get(base) == "histogram":
        return base
    return None


def test_dashboard_metrics_exist(make_gateway, tenant_factory):
    port = free_port()
    gw = make_gateway(http_listen="127.0.0.1:%d" % port)
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("c.example")
    s.login(t.user, t.password)
    s.sendmail("a@acme.example", ["b@x.example"], simple_message(frm="a@acme.example").encode())
    s.quit()
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        types, samples = scrape_families(r.read().decode())
    assert "sesgate_queue_depth" in samples and "sesgate_smtp_replies_total" in samples

    dash = load()
    used = set()
    for where, expr, legend in queries(dash):
        expr_labels = set(TARGET_LABELS)
        for m in METRIC.finditer(expr):
            name = m.group(0)
            used.add(name)
            fam = family_of(name, types)
            assert fam, "%s: %s is not in /metrics" % (where, name)
            if name not in samples:
                assert name in EMPTY_UNTIL_EVENTS, "%s: %s has no samples" % (where, name)
            known = samples.get(name) or EMPTY_UNTIL_EVENTS.get(name, set())
            expr_labels |= known
            # counters and histogram series only under rate()/increase(),
            # gauges never
            rated = bool(RATED.search(expr[:m.start()]))
            if types[fam] in ("counter", "histogram"):
                assert rated, "%s: counter %s used without rate()/increase()" % (where, name)
            else:
                assert not rated, "%s: rate() of gauge %s" % (where, name)
        for m in SELECTOR.finditer(expr):
            name, body = m.groups()
            known = samples.get(name) or EMPTY_UNTIL_EVENTS.get(name, set())
            pos = 0
            while pos < len(body.rstrip()):
                lm = MATCHER.match(body, pos)
                assert lm, "%s: bad matcher in %r" % (where, body)
                assert lm.group(1) in known | TARGET_LABELS, \
                    "%s: %s has no label %s" % (where, name, lm.group(1))
                pos = lm.end()
        for m in GROUPING.finditer(expr):
            for lab in filter(None, (x.strip() for x in m.group(1).split(","))):
                assert lab in expr_labels, "%s: grouping by unknown label %s" % (where, lab)
        for lab in re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend):
            assert lab in expr_labels, "%s: legend uses unknown label %s" % (where, lab)
    # sanity: the extraction found the dashboard's breadth of metrics
    assert len(used) >= 40, sorted(used)
    for must in ("sesgate_ses_call_seconds_bucket", "sesgate_tenant_state",
                 "sesgate_ses_calls_by_outcome_total", "sesgate_queue_oldest_seconds"):
        assert must in used, must
