"""The embedded recommender's store and its history import, end to end with the real binary:
import-events on CSV, JSON Lines and gzip files (bad lines reported with their numbers, a re-run
changes nothing, an interrupted import resumes and counts every event once, a progress bar on a
terminal, refused while a server holds the store); a server then answers from what was imported;
GET /admin/builtin/stats and /healthz; a full store is loud (DEGRADED, a counter, a log line) while
events are still accepted, and a restart with room applies each waiting event exactly once."""
import gzip
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import Server, curl_json, run_tests  # noqa: E402

TMP = tempfile.mkdtemp(prefix="pz-builtin-it-")
BINARY = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None

CONFIG = {
    "version": "builtin-1",
    "namespaces": {
        "shop": {
            "recommenders": {
                "recommend-items": {"for-you": {"variations": {"p": {"type": "builtin"}}},
                                    "popular": {"variations": {"p": {"type": "builtin", "strategy": "popular"}}}},
                "related-items": {"similar": {"variations": {"p": {"type": "builtin"}}}},
                "rerank-items": {"rank": {"variations": {"p": {"type": "builtin", "strategy": "affinity"}}}},
            },
            "eventTargets": [{"type": "builtin"}],
        }
    },
}


def write_config(path):
    with open(path, "w") as f:
        json.dump(CONFIG, f)
    return path


def import_events(data_dir, *args, timeout=300):
    return subprocess.run([BINARY, "import-events", "--data-dir", data_dir] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def server_on(data_dir, *extra):
    cfg = write_config(os.path.join(TMP, "config-%d.json" % random.randrange(1 << 30)))
    return Server(BINARY, args=["--config", cfg] + list(extra), data_dir=data_dir).start()


def items_of(doc):
    return [i["itemId"] for i in doc["itemList"]]


def test_stats_and_health_of_the_demo(s):
    status, _, doc = curl_json(s, s.admin_url("/admin/builtin/stats"))
    assert status == 200, doc
    assert doc["state"] == "ok" and doc["namespaces"] == 1 and doc["items"] >= 1000, doc
    for key in ("mapBytes", "maxBytes", "usedBytes", "pendingBytes", "pendingBudgetBytes", "eventsLearned", "flushes",
                "flushFailures", "lastFlushMs", "lastError"):
        assert key in doc, key
    # --builtin-memory-mb auto: 256 MiB plus 4 lists of 255 16-byte neighbours per item known
    assert doc["pendingBudgetBytes"] == (256 << 20) + 4 * doc["items"] * 255 * 16, doc
    assert doc["maxBytes"] == 65536 << 20 and doc["flushFailures"] == 0 and doc["lastError"] is None, doc
    status, _, health = curl_json(s, "/healthz")
    assert status == 200 and health["status"] == "SERVING", health
    assert health["builtin"] == {"state": "ok", "flushFailures": 0, "lastError": None}, health


CSV = ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,NOTE\r\n"
       "alice,boots,1700000000,view,,first\r\n"
       "alice,\"socks, wool\",1700000060,purchase,12.5,\"said \"\"nice\"\"\"\r\n"
       "bob,boots,1700000100,view,,x\r\n"
       "bob,\"socks, wool\",1700000160,purchase,,x\r\n"
       "bob,tent,1700000200,click,,x\r\n"
       "carol,boots,1700000300,click,,x\r\n"
       "carol,stove,1700000360000,click,,milliseconds\r\n"
       "dave,tent,soon,click,,x\r\n")
JSONL = "\n".join([
    json.dumps({"sessionId": "s-erin", "userId": "erin", "eventList": [
        {"eventType": "click", "itemId": "boots", "sentAt": 1700000400},
        {"eventType": "click", "itemId": "socks, wool", "sentAt": 1700000401}]}),
    "{broken",
    json.dumps({"body": {"sessionId": "s-frank", "userId": "frank", "eventList": [
        {"eventType": "purchase", "itemId": "tent", "sentAt": 1700000500}]}}),
    json.dumps({"sessionId": "s", "eventList": [{"eventType": "click", "sentAt": 1}]}),
]) + "\n"


def test_import_files_then_serve_them(s):
    data = os.path.join(TMP, "imported")
    csv_path = os.path.join(TMP, "interactions.csv")
    with open(csv_path, "w", newline="") as f:
        f.write(CSV)
    jsonl_gz = os.path.join(TMP, "events.jsonl.gz")
    with gzip.open(jsonl_gz, "wt") as f:
        f.write(JSONL)
    out = import_events(data, "--namespace", "shop", csv_path, jsonl_gz)
    assert out.returncode == 1, out  # bad lines make the status 1; the good lines are in
    assert "interactions.csv: 9 lines: 6 events learned, 0 already imported, 2 bad lines" in out.stdout, out.stdout
    assert "events.jsonl.gz: 4 lines: 3 events learned, 0 already imported, 2 bad lines" in out.stdout, out.stdout
    assert "1 namespace(s), 3 items" in out.stdout, out.stdout
    err = out.stderr
    assert re.search(r"interactions\.csv:8: TIMESTAMP 1700000360000 is after the year 5000: milliseconds", err), err
    assert "interactions.csv:9: TIMESTAMP is not a number" in err, err
    assert "events.jsonl.gz:2: invalid JSON" in err, err
    assert "events.jsonl.gz:4: eventList[0].itemId is required" in err, err

    # the same files again: nothing applied twice
    again = import_events(data, "--namespace", "shop", csv_path, jsonl_gz)
    assert "6 events learned" not in again.stdout
    assert "interactions.csv: 9 lines: 0 events learned, 6 already imported" in again.stdout, again.stdout
    assert "events.jsonl.gz: 4 lines: 0 events learned, 3 already imported" in again.stdout, again.stdout
    assert "imported before up to line 7" in again.stderr, again.stderr
    # the same content compressed differently is the same file
    csv_gz = os.path.join(TMP, "copy.csv.gz")
    with gzip.open(csv_gz, "wt", newline="") as f:
        f.write(CSV)
    copy = import_events(data, "--namespace", "shop", "--quiet", csv_gz)
    assert "0 events learned, 6 already imported" in copy.stdout, copy.stdout

    srv = server_on(data)
    try:
        status, _, doc = curl_json(srv, "/recommend-items/shop/popular/nobody?numResults=10")
        assert status == 200, doc
        # boots: view .5 + view .5 + click 1 + click 1 = 3; socks: 4 + 4 + 1 = 9; tent: 1 + 4 = 5
        assert items_of(doc)[:3] == ["socks, wool", "tent", "boots"], doc
        scores = {i["itemId"]: i["score"] for i in doc["itemList"]}
        assert abs(scores["tent"] / scores["boots"] - 5 / 3) < 1e-3, scores
        status, _, doc = curl_json(srv, "/related-items/shop/similar/boots?numResults=3")
        assert items_of(doc)[0] == "socks, wool", doc  # bought after boots by alice, bob and erin
        status, _, doc = curl_json(srv, "/recommend-items/shop/for-you/carol?numResults=3")
        assert "boots" not in items_of(doc) and items_of(doc)[0] == "socks, wool", doc
    finally:
        srv.stop()
        srv.cleanup()
    # the same file into another namespace is another import
    other = import_events(data, "--namespace", "outlet", "--quiet", csv_path)
    assert "6 events learned" in other.stdout, other.stdout


def synthetic_csv(path, lines, seed):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        t = 1700000000
        for i in range(lines):
            t += rnd.randrange(3)
            f.write("u%d,item-%d,%d,%s\n" % (rnd.randrange(20000), int(rnd.paretovariate(1.2)) % 3000, t,
                                             rnd.choice(("view", "view", "click", "purchase"))))


def popular_scores(data_dir):
    srv = server_on(data_dir)
    try:
        status, _, doc = curl_json(srv, "/recommend-items/shop/popular/x?numResults=200")
        assert status == 200, doc
        pop = {i["itemId"]: i["score"] for i in doc["itemList"]}
        status, _, rel = curl_json(srv, "/related-items/shop/similar/item-1?numResults=25")
        return pop, items_of(rel)
    finally:
        srv.stop()
        srv.cleanup()


def test_an_interrupted_import_resumes_and_counts_each_event_once(s):
    path = os.path.join(TMP, "big.csv")
    synthetic_csv(path, 400000, 7)
    interrupted, whole = os.path.join(TMP, "interrupted"), os.path.join(TMP, "whole")
    proc = subprocess.Popen([BINARY, "import-events", "--data-dir", interrupted, "--namespace", "shop",
                             "--memory-mb", "4", "--quiet", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stats = os.path.join(interrupted, "builtin", "data.mdb")
    deadline = time.time() + 60
    while time.time() < deadline and (not os.path.exists(stats) or os.path.getsize(stats) < (8 << 20)):
        time.sleep(0.02)  # some flushes are written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be interrupted"
    resumed = import_events(interrupted, "--namespace", "shop", "--memory-mb", "4", path)
    assert resumed.returncode == 0, resumed
    m = re.search(r"imported before up to line (\d+)", resumed.stderr)
    assert m and 1 < int(m.group(1)) < 400001, resumed.stderr
    m = re.search(r"400,001 lines: ([\d,]+) events learned, ([\d,]+) already imported, 0 bad lines", resumed.stdout)
    assert m, resumed.stdout
    learned, already = (int(g.replace(",", "")) for g in m.groups())
    assert learned + already == 400000 and already > 0, (learned, already)
    one_go = import_events(whole, "--namespace", "shop", "--quiet", path)
    assert "400,000 events learned" in one_go.stdout, one_go.stdout
    (pop_a, rel_a), (pop_b, rel_b) = popular_scores(interrupted), popular_scores(whole)
    assert list(pop_a) == list(pop_b) and rel_a == rel_b, (list(pop_a)[:10], list(pop_b)[:10])
    # scores decay between the two queries: compare them relative to the first item's
    top_a, top_b = next(iter(pop_a.values())), next(iter(pop_b.values()))
    for item, score in pop_a.items():
        assert abs(score / top_a - pop_b[item] / top_b) <= 1e-9, (item, score, pop_b[item])


def test_import_shows_progress_on_a_terminal(s):
    path = os.path.join(TMP, "progress.csv")
    synthetic_csv(path, 150000, 3)
    master, slave = pty.openpty()
    proc = subprocess.Popen([BINARY, "import-events", "--data-dir", os.path.join(TMP, "progress"), "--namespace",
                             "shop", path], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out = proc.communicate(timeout=120)[0].decode()
    os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, (out, text)
    assert "events/s" in text and "%" in text and "lines" in text and "\r" in text, text[-500:]
    assert re.search(r"ETA \d+:\d\d:\d\d", text), text[-500:]
    assert "150,000 events learned" in out, out
    # not a terminal: no bar
    quiet = import_events(os.path.join(TMP, "progress2"), "--namespace", "shop", path)
    assert "ETA" not in quiet.stderr and "\r" not in quiet.stderr, quiet.stderr[-300:]


def test_import_is_refused_while_a_server_holds_the_store(s):
    path = os.path.join(TMP, "tiny.csv")
    with open(path, "w") as f:
        f.write("USER_ID,ITEM_ID,TIMESTAMP\nu,i,1\n")
    out = import_events(s.data_dir, "--namespace", "demo", path)
    assert out.returncode == 1, out
    assert "in use by another process" in out.stderr, out.stderr
    usage = import_events(s.data_dir, path)
    assert usage.returncode == 2 and "--namespace" in usage.stderr, usage
    zero = import_events(s.data_dir, "--namespace", "demo", "--memory-mb", "0", path)
    assert zero.returncode == 2, zero
    assert "--memory-mb expects an integer from 1 to 1048576 or auto (got '0')" in zero.stderr, zero.stderr
    auto = import_events(s.data_dir, "--namespace", "demo", "--memory-mb", "auto", path)
    assert auto.returncode == 1 and "in use by another process" in auto.stderr, auto  # past the arguments


def post_events(srv, user, items):
    body = {"sessionId": "s-" + user, "userId": user,
            "eventList": [{"eventType": "click", "itemId": i, "sentAt": time.time()} for i in items]}
    req = urllib.request.Request(srv.url("/events/shop"), data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def test_a_full_store_is_loud_keeps_events_and_recovers(s):
    data = os.path.join(TMP, "full")
    srv = server_on(data, "--builtin-max-mb", "1", "--builtin-memory-mb", "1", "--builtin-flush-ms", "100")
    posted = []
    try:
        calls = [["%0240d" % (n * 10 + k) for k in range(10)] for n in range(300)]  # more than 1 MiB holds
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda n: post_events(srv, "user-%d" % n, calls[n]), range(300)))
        assert statuses == [200] * 300  # accepted: durable in the outbox
        posted = [i for items in calls for i in items]
        deadline = time.time() + 30
        health = None
        while time.time() < deadline:
            status, _, health = curl_json(srv, "/healthz")
            _, _, stats = curl_json(srv, srv.admin_url("/admin/builtin/stats"))
            if health["status"] == "DEGRADED" and stats["flushFailures"] >= 2:
                break
            time.sleep(0.1)
        assert status == 200 and health["status"] == "DEGRADED", health
        assert health["builtin"]["state"] == "degraded" and "the store is full" in health["builtin"]["lastError"]
        assert "--builtin-max-mb" in health["builtin"]["lastError"], health
        assert stats["state"] == "degraded" and stats["flushFailures"] >= 2, stats
        log = srv.read_log()
        # one error line per minute however often it fails
        assert len(re.findall(r"error builtin: the store is full", log)) == 1, log[-3000:]
        assert re.search(r"error builtin: the store is full: it reached its limit of 1 MiB; raise --builtin-max-mb",
                         log), log[-3000:]
        assert post_events(srv, "late", ["late-item"]) == 200
        posted.append("late-item")
    finally:
        srv.stop()
    # room again: what the outbox kept is applied, each event once
    srv2 = Server(BINARY, args=srv.args[:2], data_dir=data).start()
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            _, _, ev = curl_json(srv2, srv2.admin_url("/admin/events/stats"))
            lag = [t["lag"] for t in ev["targets"] if t["type"] == "builtin"]
            if lag == [0]:
                break
            time.sleep(0.1)
        assert lag == [0], ev
        _, _, health = curl_json(srv2, "/healthz")
        assert health["status"] == "SERVING", health
        scores = []
        for k in range(0, len(posted), 500):
            status, _, doc = curl_json(srv2, "/rerank-items/shop/rank/nobody", method="POST",
                                       data=json.dumps(posted[k:k + 500]), headers=["Content-Type: application/json"])
            assert status == 200, doc
            scores += [i.get("score") for i in doc["personalizedRanking"]]
        assert len(scores) == len(posted) and None not in scores, scores[:5]
        assert max(scores) / min(scores) < 1.001, (min(scores), max(scores))  # one click each, none twice
    finally:
        srv2.stop()
        srv2.cleanup()
        srv.cleanup()


if __name__ == "__main__":
    try:
        run_tests(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
