#!/usr/bin/env python3
"""A Faultline shim for raft-node's HTTP API: one JSON request per line in, one answer per line out."""
import json, sys, urllib.error, urllib.request

DEFINITE = {"not_leader", "not_applied", "bad_request"}  # raft-node's proof that nothing happened

def http(addr, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data, {"content-type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=1.5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

def perform(op, addr, redirects=1):
    f, key, v = op["f"], op["key"], op["value"]
    try:
        if f == "read": status, body = http(addr, "GET", f"/kv/{key}")
        elif f == "write": status, body = http(addr, "PUT", f"/kv/{key}", {"value": v})
        elif f == "cas": status, body = http(addr, "POST", f"/kv/{key}/cas", {"from": v[0], "to": v[1]})
        else: status, body = http(addr, "POST", f"/kv/{key}/append", {"value": v})
    except urllib.error.URLError as e:  # refused: the request never left
        return {"type": "fail" if isinstance(e.reason, ConnectionRefusedError) else "info", "error": str(e)}
    except (OSError, ValueError) as e:  # timeout, reset, a body that is not JSON: unknown
        return {"type": "info", "error": str(e)}
    if status == 404 and body.get("error") == "not_found": return {"type": "ok", "value": None}
    if status == 421 and body.get("leader") and redirects: return perform(op, body["leader"], redirects - 1)
    if 200 <= status < 300:
        if f == "cas" and not body.get("applied"): return {"type": "fail", "error": "cas mismatch"}
        return {"type": "ok", "value": body.get("value")}
    err = body.get("error")
    return {"type": "fail" if err in DEFINITE or f == "read" else "info", "error": err}

for line in sys.stdin:
    op = json.loads(line)
    print(json.dumps({"id": op["id"], **perform(op, op["addr"])}), flush=True)
