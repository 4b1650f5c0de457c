#!/usr/bin/python3
"""Soak and chaos run (issue 19): the real server under mixed REST + gRPC + events load for a fixed
time, with its event targets failing and recovering and one kill -9 in the middle; prints RSS, open
descriptors and threads over time, error counts, and the events lost (acknowledged with 200 /
OK but never delivered), which must be 0.

    bazel build -c opt //server:personalization-server //proto:personalization_py
    /usr/bin/python3 tests/soak/soak.py bazel-bin/server/personalization-server [--seconds 600]

Everything runs on loopback: the server (its own data directory and free ports), a local webhook
that answers 500 for 20 s out of every 60 (the chaos), and a file target. The load: REST
recommend/related/rerank (GET and POST), REST events, gRPC RecommendItems and PutEvents, from
client threads with keep-alive connections; every acknowledged event id is remembered. Halfway
through, the server is killed with SIGKILL and started again on the same data directory and ports;
calls in flight at that moment fail and are counted apart ("restart"), not as errors. At the end the
load stops, the webhook recovers, and the run waits until every acknowledged event reached both the
webhook and the file (at-least-once: duplicates are counted, not lost). Exit status 0 when nothing
was lost and no unexpected error happened.
"""
import argparse
import http.client
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for c in (os.path.join(REPO, "bazel-bin", "proto"), os.path.join(REPO, "proto")):
    if os.path.exists(os.path.join(c, "personalization", "v1", "personalization_pb2.py")):
        sys.path.insert(0, c)
import grpc  # noqa: E402
from personalization.v1 import personalization_pb2 as pb  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Webhook(http.server.ThreadingHTTPServer):
    """Records delivered event ids; answers 500 while `failing` (set by the chaos thread)."""
    daemon_threads = True

    def __init__(self):
        self.failing = False
        self.lock = threading.Lock()
        self.ids = {}  # event id -> deliveries
        self.calls = self.failed_calls = 0

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(h):
                body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
                with self.lock:
                    self.calls += 1
                    if self.failing:
                        self.failed_calls += 1
                        h.send_response(500)
                        h.send_header("Content-Length", "4")
                        h.end_headers()
                        h.wfile.write(b"down")
                        return
                    for rec in json.loads(body)["records"]:
                        for ev in rec["body"].get("eventList", []):
                            self.ids[ev["eventId"]] = self.ids.get(ev["eventId"], 0) + 1
                h.send_response(200)
                h.send_header("Content-Length", "0")
                h.end_headers()

        super().__init__(("127.0.0.1", 0), H)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.errors = {}
        self.restart = 0
        self.acked = set()
        self.restarting = False

    def count(self, kind, ok, detail=None):
        with self.lock:
            if ok:
                self.ok[kind] = self.ok.get(kind, 0) + 1
            elif self.restarting:
                self.restart += 1
            else:
                key = "%s: %s" % (kind, detail)
                self.errors[key] = self.errors.get(key, 0) + 1


class ServerProc:
    def __init__(self, binary, config, data_dir, http_port, grpc_port, log_path):
        self.cmd = [binary, "--config", config, "--data-dir", data_dir, "--http-port", str(http_port),
                    "--grpc-port", str(grpc_port), "--log-level", "warn"]
        self.http_port = http_port
        self.log_path = log_path
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start; see %s" % self.log_path)

    def sample(self):
        pid = self.proc.pid
        try:
            with open("/proc/%d/status" % pid) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            return (int(st["VmRSS"].split()[0]) // 1024, int(st["RssAnon"].split()[0]) // 1024,
                    len(os.listdir("/proc/%d/fd" % pid)), int(st["Threads"]))
        except (OSError, KeyError):
            return (0, 0, 0, 0)


def rest_worker(port, stats, stop, seq):
    conn = None
    rng = random.Random(seq)
    n = 0
    while not stop.is_set():
        n += 1
        user = "user-%04d" % rng.randint(1, 300)
        item = "sku-%05d" % rng.randint(1, 1200)
        choice = n % 6
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            if choice == 0:
                eid = "rest-%d-%d" % (seq, n)
                body = json.dumps({"sessionId": "s-" + user, "userId": user, "eventList": [
                    {"eventId": eid, "eventType": "click", "itemId": item, "sentAt": time.time()}]})
                conn.request("POST", "/events/soak", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                stats.count("rest events", r.status == 200, r.status)
                if r.status == 200:
                    with stats.lock:
                        stats.acked.add(eid)
            elif choice == 1:
                conn.request("GET", "/related-items/soak/similar/%s?numResults=10" % item)
                r = conn.getresponse()
                r.read()
                stats.count("rest related", r.status == 200, r.status)
            elif choice == 2:
                ids = ",".join("sku-%05d" % rng.randint(1, 1200) for _ in range(20))
                conn.request("GET", "/rerank-items/soak/ranking/%s/%s" % (user, ids))
                r = conn.getresponse()
                r.read()
                stats.count("rest rerank", r.status == 200, r.status)
            elif choice == 3:
                conn.request("POST", "/rerank-items/soak/ranking/%s" % user,
                             json.dumps(["sku-%05d" % rng.randint(1, 1200) for _ in range(20)]),
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                stats.count("rest rerank post", r.status == 200, r.status)
            else:
                conn.request("GET", "/recommend-items/soak/%s/%s?numResults=10" %
                             ("for-you" if choice == 4 else "popular", user))
                r = conn.getresponse()
                r.read()
                stats.count("rest recommend", r.status == 200, r.status)
        except (OSError, http.client.HTTPException) as e:
            stats.count("rest", False, type(e).__name__)
            conn = None
            time.sleep(0.05)


def grpc_worker(port, stats, stop, seq):
    rng = random.Random(1000 + seq)
    n = 0
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    rec = ch.unary_unary("/personalization.v1.PersonalizationService/RecommendItems",
                         request_serializer=pb.RecommendItemsRequest.SerializeToString,
                         response_deserializer=pb.RecommendationResponse.FromString)
    put = ch.unary_unary("/personalization.v1.PersonalizationService/PutEvents",
                         request_serializer=pb.PutEventsRequest.SerializeToString,
                         response_deserializer=pb.PutEventsResponse.FromString)
    while not stop.is_set():
        n += 1
        user = "user-%04d" % rng.randint(1, 300)
        try:
            if n % 3 == 0:
                eid = "grpc-%d-%d" % (seq, n)
                req = pb.PutEventsRequest(namespace="soak", session_id="s-" + user, user_id=user)
                ev = req.event_list.add()
                ev.event_id, ev.event_type = eid, "view"
                ev.item_id = "sku-%05d" % rng.randint(1, 1200)
                put(req, timeout=10, wait_for_ready=True)
                stats.count("grpc events", True)
                with stats.lock:
                    stats.acked.add(eid)
            else:
                rec(pb.RecommendItemsRequest(namespace="soak", recommender="for-you", user_id=user,
                                             num_results=10), timeout=10, wait_for_ready=True)
                stats.count("grpc recommend", True)
        except grpc.RpcError as e:
            stats.count("grpc", False, e.code().name)
            time.sleep(0.05)
    ch.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--rest-clients", type=int, default=4)
    ap.add_argument("--grpc-clients", type=int, default=2)
    ap.add_argument("--sample-every", type=int, default=30, help="seconds between samples")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="pz-soak-")
    hook = Webhook()
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    file_path = os.path.join(tmp, "events.jsonl")
    with open(os.path.join(REPO, "tests", "data", "demo", "config.json")) as f:
        demo = json.load(f)["namespaces"]["demo"]
    config = {"version": "soak-1", "namespaces": {"soak": {
        "recommenders": demo["recommenders"],
        "eventTargets": [{"type": "builtin"},
                         {"type": "http", "url": "http://127.0.0.1:%d/hook" % hook.server_address[1]},
                         {"type": "file", "path": file_path}]}}}
    config_path = os.path.join(tmp, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    http_port, grpc_port = free_port(), free_port()
    server = ServerProc(os.path.abspath(args.binary), config_path, os.path.join(tmp, "data"), http_port, grpc_port,
                        os.path.join(tmp, "server.log"))
    server.start()
    stats = Stats()
    stop = threading.Event()
    workers = [threading.Thread(target=rest_worker, args=(http_port, stats, stop, i), daemon=True)
               for i in range(args.rest_clients)]
    workers += [threading.Thread(target=grpc_worker, args=(grpc_port, stats, stop, i), daemon=True)
                for i in range(args.grpc_clients)]
    t0 = time.time()
    for w in workers:
        w.start()

    print("soak: %d s, %d REST + %d gRPC clients, webhook down 20 s of every 60, kill -9 at %d s; data in %s"
          % (args.seconds, args.rest_clients, args.grpc_clients, args.seconds // 2, tmp), flush=True)
    print("%6s %7s %8s %5s %7s %9s %7s %8s %s" % ("t_s", "rss_mb", "anon_mb", "fds", "threads", "requests",
                                                  "errors", "hook_500", "note"), flush=True)
    samples = []
    killed = False
    next_sample = 0
    while True:
        now = time.time() - t0
        if now >= args.seconds:
            break
        hook.failing = (now % 60) >= 40  # down from 40 s to 60 s of every minute
        note = ""
        if not killed and now >= args.seconds / 2:
            stats.restarting = True
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            server.start()
            time.sleep(3)  # calls that failed around the restart (reconnecting) are the restart's
            stats.restarting = False
            killed = True
            note = "kill -9, restarted"
        if now >= next_sample or note:
            rss, anon, fds, threads = server.sample()
            with stats.lock:
                total = sum(stats.ok.values())
                errors = sum(stats.errors.values())
            samples.append((int(now), rss, anon, fds, threads))
            print("%6d %7d %8d %5d %7d %9d %7d %8d %s" % (now, rss, anon, fds, threads, total, errors,
                                                          hook.failed_calls, note), flush=True)
            next_sample = now + args.sample_every
        time.sleep(0.5)
    stop.set()
    for w in workers:
        w.join(timeout=30)
    hook.failing = False

    # Every acknowledged event must reach both targets.
    deadline = time.time() + 120
    while True:
        with hook.lock:
            at_hook = set(hook.ids)
        at_file = set()
        with open(file_path) as f:
            for line in f:
                for ev in json.loads(line)["body"].get("eventList", []):
                    at_file.add(ev["eventId"])
        lost_hook = stats.acked - at_hook
        lost_file = stats.acked - at_file
        if (not lost_hook and not lost_file) or time.time() > deadline:
            break
        time.sleep(1)
    rss, anon, fds, threads = server.sample()
    server.proc.send_signal(signal.SIGTERM)
    rc = server.proc.wait(timeout=60)
    dup = sum(c - 1 for c in hook.ids.values() if c > 1)
    rss_all = [s[1] for s in samples if s[1]]
    anon_all = [s[2] for s in samples if s[2]]
    print("\nrequests ok by kind: %s" % json.dumps(stats.ok, sort_keys=True))
    print("errors (unexpected): %s" % (json.dumps(stats.errors, sort_keys=True) if stats.errors else "none"))
    print("calls failed during the kill -9 restart: %d" % stats.restart)
    print("events acknowledged: %d; delivered to the webhook: %d (duplicates %d; %d calls answered 500); "
          "to the file: %d" % (len(stats.acked), len(at_hook & stats.acked), dup, hook.failed_calls,
                               len(at_file & stats.acked)))
    print("lost events: webhook %d, file %d" % (len(lost_hook), len(lost_file)))
    print("RSS min/max %d/%d MB (anonymous %d/%d MB); at the end: RSS %d MB (anonymous %d), %d fds, %d threads; "
          "SIGTERM exit %d" % (min(rss_all), max(rss_all), min(anon_all), max(anon_all), rss, anon, fds, threads, rc))
    ok = not lost_hook and not lost_file and not stats.errors and rc == 0
    print("soak: %d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
