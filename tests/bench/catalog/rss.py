#!/usr/bin/env python3
"""Server memory with a loaded catalog: starts the real server on a data directory whose catalog
holds N items (namespace `bench`), decorates R rerank requests of K random ids each over REST, and
reads VmRSS, RssAnon and RssFile from /proc/PID/status. The baseline, measured in the same run, is
the same server and requests on a data directory without a catalog. RSS "excluding page cache" is
VmRSS - RssFile (the catalog's pages are file-backed: they belong to the page cache and are shared
by every process that maps the catalog).

    rss.py SERVER_BINARY DATA_DIR N [REQUESTS] [IDS_PER_REQUEST]
"""
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

CONFIG = {"version": "bench", "namespaces": {"bench": {
    "inferenceItemMetadata": {"type": "localdb"},
    "recommenders": {"rerank-items": {"rank": {"variations": {"aff": {"type": "builtin"}}}}}}}}


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            m = re.match(r"(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2)) / 1024.0
    return out


def run(binary, data_dir, n, requests, per_request, label):
    tmp = tempfile.mkdtemp(prefix="pz-rss-")
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump(CONFIG, f)
    log = open(os.path.join(tmp, "server.log"), "w+")
    args = [binary, "--config", cfg, "--data-dir", data_dir, "--http-port", "0", "--grpc-port", "0",
            "--admin-port", "0", "--admin-grpc-port", "0", "--import-poll-ms", "0", "--log-level", "warn",
            "--http-threads", "1"]
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    if "--cache-bytes" in help_text:
        args += ["--cache-bytes", "0"]  # the response cache has its own budget; measure the catalog alone
    proc = subprocess.Popen(args + ["--log-level", "info"], stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        deadline = time.time() + 30
        while port is None and time.time() < deadline:
            log.seek(0)
            m = re.search(r"REST  listening on http://[^ ]*:(\d+)", log.read())
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        if port is None:
            raise RuntimeError("server did not start")
        start = status(proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        rnd = random.Random(7)
        decorated = 0
        t0 = time.time()
        for r in range(requests):
            ids = ["item-%07d" % rnd.randrange(n) for _ in range(per_request)]
            conn.request("POST", "/rerank-items/bench/rank/u%d" % r, body=json.dumps(ids),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            if resp.status != 200:
                raise RuntimeError("status %d: %s" % (resp.status, doc))
            decorated += sum(1 for it in doc["personalizedRanking"] if "metadata" in it)
        dt = time.time() - t0
        end = status(proc.pid)
        print("%-22s start: VmRSS %6.1f MB (RssFile %6.1f)   after %d requests x %d ids (%d decorated, %.0f req/s): "
              "VmRSS %6.1f MB, RssFile %6.1f MB, VmRSS - RssFile %5.1f MB"
              % (label, start["VmRSS"], start["RssFile"], requests, per_request, decorated, requests / dt,
                 end["VmRSS"], end["RssFile"], end["VmRSS"] - end["RssFile"]))
        return end["VmRSS"] - end["RssFile"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def main():
    binary, data_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    requests = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    per_request = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    empty = tempfile.mkdtemp(prefix="pz-rss-empty-")
    base = run(binary, empty, n, requests, per_request, "baseline (no catalog)")
    full = run(binary, data_dir, n, requests, per_request, "catalog of %d items" % n)
    print("server memory excluding page cache with the catalog: %.1f MB (baseline %.1f MB, +%.1f MB); goal <= 64 MB"
          % (full, base, full - base))


if __name__ == "__main__":
    main()
