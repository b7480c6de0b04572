#!/usr/bin/env python3
"""A replicated lin-kv node for Maelstrom's protocol (stdlib only): primary-backup, fixed primary.

Run it under Faultline:
    faultline run --system maelstrom --node-cmd 'python3 examples/maelstrom/lin_kv.py' --nodes 3

The first node of `node_ids` (n1) is the primary. It executes every write and cas: it appends the
change to its log file (in its working directory, which Faultline keeps; kill -9 cannot lose a
flushed write), applies it, sends `replicate` to every backup and answers the client once a majority
(itself included) holds it, resending to the silent backups every 200 ms for up to 5 s (then the
client gets no answer: indefinite, never a definite error for something that may have happened).
Backups forward client requests to the primary as `forward`; the primary answers the client
directly, and remembers which requests it executed, so a duplicated forward runs once. Reads are
answered by the primary, whose state holds every acknowledged write: linearizable.

Flags:
    --bug stale-reads   backups answer reads from their own copy, which lags behind the primary
                        (replication in flight, a partition, dropped `replicate` messages): stale reads.
    --noisy             print a line that is not a message when initialised (Faultline counts it).
"""
import json
import os
import queue
import sys
import threading
import time

LOG = "lin_kv.log"
RETRY = 0.2
GIVE_UP = 5.0


class Node:
    def __init__(self, stale_reads, noisy):
        self.stale_reads, self.noisy = stale_reads, noisy
        self.me, self.nodes, self.next_id = None, [], 0
        self.kv = {}  # key (as JSON text) -> (value, version)
        self.version = 0
        self.seen = set()  # (client, msg_id) of every write and cas executed
        self.inflight = {}  # version -> what to answer once a majority holds it
        self.log = None

    def send(self, dest, body):
        self.next_id += 1
        env = {"src": self.me, "dest": dest, "body": dict(body, msg_id=self.next_id)}
        sys.stdout.write(json.dumps(env) + "\n")
        sys.stdout.flush()

    def reply(self, dest, in_reply_to, body):
        self.send(dest, dict(body, in_reply_to=in_reply_to))

    def primary(self):
        return self.nodes[0]

    def handle(self, m):
        src, b = m["src"], m["body"]
        t = b["type"]
        if t == "init":
            self.me, self.nodes = b["node_id"], b["node_ids"]
            if self.me == self.primary():
                self.recover()
            if self.noisy:
                print(f"{self.me} is up", flush=True)
            self.reply(src, b["msg_id"], {"type": "init_ok"})
        elif t == "replicate":
            cur = self.kv.get(b["key"])
            if cur is None or cur[1] < b["version"]:
                self.kv[b["key"]] = (b["value"], b["version"])
            self.reply(src, b["msg_id"], {"type": "replicate_ok", "version": b["version"]})
        elif t == "replicate_ok":
            op = self.inflight.get(b["version"])
            if op is not None:
                op["acks"].add(src)
                self.answer_if_held(b["version"])
        elif t == "forward" and self.me == self.primary():
            self.execute(b["client"], b["request"])
        elif t in ("read", "write", "cas"):
            if self.me == self.primary() or (t == "read" and self.stale_reads):
                self.execute(src, b)
            else:
                self.send(self.primary(), {"type": "forward", "client": src, "request": b})
        elif "msg_id" in b:
            self.reply(src, b["msg_id"], {"type": "error", "code": 10, "text": "unsupported: " + t})

    def recover(self):
        if os.path.exists(LOG):
            with open(LOG) as f:
                for line in f:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        break  # a torn last line was never acknowledged
                    self.seen.add(tuple(r["req"]))
                    if "key" in r:
                        self.kv[r["key"]] = (r["value"], r["version"])
                        self.version = max(self.version, r["version"])
        self.log = open(LOG, "a")

    def persist(self, record):
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()

    def execute(self, client, req):
        key, t, mid = json.dumps(req["key"]), req["type"], req["msg_id"]
        cur = self.kv.get(key)
        if t == "read":
            if cur is None:
                return self.reply(client, mid, {"type": "error", "code": 20, "text": "no such key"})
            return self.reply(client, mid, {"type": "read_ok", "value": cur[0]})
        if (client, mid) in self.seen:
            return  # a duplicate of a request already executed
        self.seen.add((client, mid))
        if t == "cas" and (cur is None or cur[0] != req["from"]):
            self.persist({"req": [client, mid]})
            code, text = (20, "no such key") if cur is None else (22, f"expected {req['from']}, had {cur[0]}")
            return self.reply(client, mid, {"type": "error", "code": code, "text": text})
        value = req["to"] if t == "cas" else req["value"]
        self.version += 1
        v = self.version
        self.persist({"req": [client, mid], "key": key, "value": value, "version": v})
        self.kv[key] = (value, v)
        msg = {"type": "replicate", "key": key, "value": value, "version": v}
        now = time.monotonic()
        self.inflight[v] = {"client": client, "mid": mid, "ok": t + "_ok", "acks": {self.me},
                            "msg": msg, "until": now + GIVE_UP, "sent": now}
        for n in self.nodes:
            if n != self.me:
                self.send(n, msg)
        self.answer_if_held(v)

    def answer_if_held(self, v):
        op = self.inflight[v]
        if len(op["acks"]) > len(self.nodes) // 2:
            del self.inflight[v]
            self.reply(op["client"], op["mid"], {"type": op["ok"]})

    def tick(self):
        now = time.monotonic()
        for v, op in list(self.inflight.items()):
            if now > op["until"]:
                del self.inflight[v]  # unanswered: the client's operation stays indefinite
            elif now - op["sent"] > RETRY:
                op["sent"] = now
                for n in self.nodes:
                    if n not in op["acks"]:
                        self.send(n, op["msg"])


def main():
    args = sys.argv[1:]
    stale = "--bug" in args and args[args.index("--bug") + 1:][:1] == ["stale-reads"]
    node = Node(stale, "--noisy" in args)
    inbox = queue.Queue()

    def read():
        for line in sys.stdin:
            inbox.put(line)
        inbox.put(None)

    threading.Thread(target=read, daemon=True).start()
    while True:
        try:
            line = inbox.get(timeout=0.05)
        except queue.Empty:
            line = ""
        if line is None:
            return
        if line.strip():
            node.handle(json.loads(line))
        node.tick()


if __name__ == "__main__":
    main()
