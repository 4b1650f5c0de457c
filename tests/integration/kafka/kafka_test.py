"""Kafka end to end (issue 18): real server processes against librdkafka's mock cluster (3 brokers
speaking the Kafka protocol on loopback ports, mock_cluster.c), with Debian's kcat as the
independent consumer.

The kafka event target: every acknowledged eventId is in the topic, keyed by sessionId -> userId ->
random, the envelope as value; one broker killed loses nothing; every broker down and the server
killed with -9 loses nothing after the restart; a record the broker refuses is a dead letter.

The namespace event log: events sent to instance A change instance B's recommendations and purge
B's cached response; A does not count its own events twice; a restarted instance resumes from its
stored offsets (no double counting); an instance that joins late replays the log and converges;
an instance killed with -9 while the cluster is down delivers its acknowledged events after its
restart; an instance killed with -9 before its model wrote what it learned from the log reads it
again (nothing lost, nothing applied twice); every instance's experiment results count the
exposures and conversions of the whole fleet.
"""
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import Server  # noqa: E402
from kafka_harness import (MockCluster, event_ids, http, kcat_read, target_stats, wait_delivered,  # noqa: E402
                           wait_for)

BINARY = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
TMP = tempfile.mkdtemp(prefix="pz-kafka-it-")
CLUSTER = MockCluster(3)
SERVERS = []

INVALID_RECORD = 87  # Kafka's error code for a record the broker refuses


def write_config(name, namespaces):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump({"version": name, "namespaces": namespaces}, f)
    return path


def start(config, data_dir=None):
    s = Server(BINARY, args=["--config", config], data_dir=data_dir)
    SERVERS.append(s)
    return s.start()


def post(server, ns, body):
    status, doc = http(server, "/events/" + ns, body)
    assert status == 200, (status, doc)


# ---- the kafka event target ----

def stream_config(topic):
    return write_config("stream-%s.json" % topic, {
        "stream": {"eventTargets": [{"type": "kafka", "brokers": CLUSTER.bootstrap, "topic": topic}]}})


def test_every_acknowledged_event_is_in_the_topic_with_its_partition_key():
    CLUSTER.topic("clicks", 4)
    s = start(stream_config("clicks"))
    sent = {}
    for i in range(40):
        body = {"eventList": [{"eventType": "click", "itemId": "i-%d" % i, "eventId": "ev-%d" % i}]}
        if i % 3 == 0:
            body["sessionId"] = "s-%d" % (i % 7)
        if i % 3 != 2:
            body["userId"] = "u-%d" % (i % 5)
        post(s, "stream", body)
        sent["ev-%d" % i] = body
    wait_delivered(s)
    messages = kcat_read(CLUSTER.bootstrap, "clicks")
    ids = event_ids(messages)
    assert sorted(ids) == sorted(sent), (len(ids), len(sent))
    for part, key, headers, value in messages:
        env = json.loads(value)
        assert env["namespace"] == "stream" and env["path"] == "/events/stream", env
        body = sent[env["body"]["eventList"][0]["eventId"]]
        expected = body.get("sessionId") or body.get("userId")
        if expected:
            assert key == expected, (key, body)
        else:
            uuid.UUID(key)  # anonymous: a random key
        assert "pz-origin=" in headers, headers
    # One key, one partition (ordering per session / user).
    by_key = {}
    for part, key, _, _ in messages:
        by_key.setdefault(key, set()).add(part)
    assert all(len(p) == 1 for p in by_key.values()), by_key
    s.stop()


def test_a_killed_broker_loses_nothing():
    CLUSTER.topic("clicks-b", 6)
    # The mock cluster picks the partitions' leaders itself: broker 2 led none of the six in 3 of
    # about 30 runs (once in CI), and its death then held nothing back. Leaders in turn: broker 2
    # leads partitions 1 and 4.
    for partition in range(6):
        CLUSTER.cmd("leader clicks-b %d %d" % (partition, partition % 3 + 1))
    s = start(stream_config("clicks-b"))
    post(s, "stream", {"sessionId": "warm", "eventList": [{"eventType": "click", "itemId": "x", "eventId": "w-0"}]})
    wait_delivered(s)
    CLUSTER.cmd("down 2")
    for i in range(30):
        post(s, "stream", {"sessionId": "s-%d" % i, "eventList": [{"eventType": "click", "itemId": "i", "eventId": "kb-%d" % i}]})
    # The partitions led by broker 2 cannot be written: their records time out and are retried
    # (the others of the call are delivered), none is dead-lettered.
    stats = wait_for("records retried while broker 2 is down and the others delivered",
                     lambda: [t for t in target_stats(s, "kafka") if t["retried"] > 0 and t["delivered"] > 1],
                     timeout=60)
    assert 0 < stats[0]["lag"] < 30, stats
    CLUSTER.cmd("up 2")
    wait_delivered(s, timeout=90)
    ids = event_ids(kcat_read(CLUSTER.bootstrap, "clicks-b"))
    missing = {"kb-%d" % i for i in range(30)} - set(ids)
    assert not missing, missing
    assert target_stats(s, "kafka")[0]["deadLettered"] == 0
    s.stop()


def test_cluster_down_and_kill_9_lose_nothing():
    CLUSTER.topic("clicks-c", 4)
    config = stream_config("clicks-c")
    s = start(config)
    for b in (1, 2, 3):
        CLUSTER.cmd("down %d" % b)
    for i in range(25):
        post(s, "stream", {"userId": "u-%d" % i, "eventList": [{"eventType": "click", "itemId": "i", "eventId": "k9-%d" % i}]})
    stats = wait_for("the target retrying", lambda: [t for t in target_stats(s, "kafka")
                                                      if t["retried"] > 0 and t["lastError"]], timeout=20)
    assert stats[0]["lag"] == 25, stats
    s.proc.kill()  # kill -9: the acknowledged events are in the outbox
    s.proc.wait()
    for b in (1, 2, 3):
        CLUSTER.cmd("up %d" % b)
    s2 = start(config, data_dir=s.data_dir)
    wait_delivered(s2, timeout=90)
    ids = event_ids(kcat_read(CLUSTER.bootstrap, "clicks-c"))
    missing = {"k9-%d" % i for i in range(25)} - set(ids)
    assert not missing, missing
    s2.stop()


def test_a_refused_record_is_a_dead_letter():
    CLUSTER.topic("clicks-d", 2)
    s = start(stream_config("clicks-d"))
    post(s, "stream", {"sessionId": "ok", "eventList": [{"eventType": "click", "itemId": "i", "eventId": "dl-ok"}]})
    wait_delivered(s)
    # The broker refuses the next Produce request (it carries only this record) as invalid.
    CLUSTER.cmd("produce-errors 1 %d" % INVALID_RECORD)
    post(s, "stream", {"sessionId": "bad", "eventList": [{"eventType": "click", "itemId": "i", "eventId": "dl-bad"}]})
    t = wait_for("a dead letter", lambda: [t for t in target_stats(s, "kafka") if t["deadLettered"] == 1], timeout=30)
    assert "kafka:" in (t[0]["lastError"] or ""), t
    # The target goes on with the next records.
    post(s, "stream", {"sessionId": "after", "eventList": [{"eventType": "click", "itemId": "i", "eventId": "dl-after"}]})
    wait_delivered(s)
    assert target_stats(s, "kafka")[0]["deadLettered"] == 1
    ids = event_ids(kcat_read(CLUSTER.bootstrap, "clicks-d"))
    assert "dl-ok" in ids and "dl-after" in ids and "dl-bad" not in ids, ids
    import subprocess
    out = subprocess.run([BINARY, "events", "dead-letters", "--data-dir", s.data_dir], capture_output=True,
                         text=True, timeout=30)
    assert "dl-bad" in out.stdout, out.stdout + out.stderr
    s.stop()


# ---- the namespace event log ----

def log_config(name, topic):
    cache = {"userSpecified": {"maxAge": 300, "directives": "private"},
             "syntheticUserSpecified": {"maxAge": 300, "directives": "public"},
             "noUserSpecified": {"maxAge": 300, "directives": "public"}}
    return write_config(name, {"shop": {
        "cacheControl": cache,
        "recommenders": {"recommend-items": {
            "for-you": {"variations": {"p": {"type": "builtin"}}},
            "top": {"variations": {"p": {"type": "builtin", "strategy": "popular"}}}}},
        "eventTargets": [{"type": "builtin"}],
        "eventLog": {"brokers": CLUSTER.bootstrap, "topic": topic}}})


def items(server, path):
    status, doc = http(server, path)
    assert status == 200, (status, doc)
    return [(i["itemId"], i.get("score", 0)) for i in doc["itemList"]]


PROBES = iter(range(10**9))


def scores(server):
    """The popular list with its scores, for a user never asked before (responses are cached per
    user for 300 s, and other users' events purge only their own entries)."""
    return dict(items(server, "/recommend-items/shop/top/probe-%d?numResults=50" % next(PROBES)))


def close(a, b, rel=0.01):
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= rel * max(abs(a[k]), 1e-9) for k in a)


def clicks(user, session, item_ids):
    return {"userId": user, "sessionId": session,
            "eventList": [{"eventType": "click", "itemId": it} for it in item_ids]}


def test_event_log_shares_learning_and_purges_caches():
    CLUSTER.topic("shop-log", 4)
    config = log_config("log.json", "shop-log")
    a = start(config)
    b = start(config)
    # Some history, sent to B: both instances learn it.
    post(b, "shop", clicks("u-1", "s-1", ["base-1"]))
    for u in range(2, 6):
        post(b, "shop", clicks("u-%d" % u, "s-%d" % u, ["base-1", "base-2", "base-3"]))
    wait_for("A learning B's events", lambda: "base-1" in scores(a), timeout=20)
    # B caches u-1's list: asked again until B answers from its cache (a response computed within a
    # second of u-1's own events is not stored, see Response cache).
    def cached_on_b():
        hits = len(re.findall(r"/recommend-items/.* status=200 .*cache=hit", b.read_log()))
        listed = items(b, "/recommend-items/shop/for-you/u-1?numResults=10")
        time.sleep(0.2)  # the access line is written after the response
        return listed if len(re.findall(r"/recommend-items/.* status=200 .*cache=hit", b.read_log())) > hits else None
    before = wait_for("a cache hit on B", cached_on_b, timeout=15)
    assert before and {i for i, _ in before} <= {"base-2", "base-3"}, before
    # Others click new items with base-1 on A, then u-1 clicks: B's cached list for u-1 changes
    # well before its maxAge (300 s).
    for u in range(2, 6):
        post(a, "shop", clicks("u-%d" % u, "s-%d" % u, ["base-1", "new-1", "new-2"]))
    post(a, "shop", clicks("u-1", "s-1", ["base-1"]))
    t0 = time.time()
    after = wait_for("B's recommendations to change", lambda: (lambda r: r if r != before else None)(
        items(b, "/recommend-items/shop/for-you/u-1?numResults=10")), timeout=20)
    assert "new-1" in dict(after) or "new-2" in dict(after), after
    print("   B changed %.2fs after A's 200s" % (time.time() - t0))
    # Applied once: A (which applied its events locally and skipped them in the log) and B (which
    # learned them from the log) hold the same counts.
    wait_for("A and B to agree", lambda: close(scores(a), scores(b)), timeout=20)
    sa = scores(a)
    # Each instance skipped exactly the 13 events it accepted itself and applied the other's 13.
    for s, name in ((a, "A"), (b, "B")):
        _, stats = http(s, "/admin/events/stats")
        log = stats["eventLogs"]["logs"][0]
        assert log["topic"] == "shop-log" and log["partitions"] == 4, (name, log)
        assert log["skippedOwn"] == 13 and log["applied"] == 13 and log["lastError"] is None, (name, log)
    assert {"base-1", "base-2", "base-3", "new-1", "new-2"} <= set(sa), sa

    # B restarted resumes from its stored offsets: nothing applied twice.
    b.stop()
    b2 = start(config, data_dir=b.data_dir)
    time.sleep(2)
    assert close(scores(b2), scores(a)), (scores(b2), scores(a))

    # C joins late with an empty data directory: it replays the log and converges.
    c = start(config)
    wait_for("C to converge", lambda: close(scores(c), scores(a)), timeout=30)
    _, stats = http(c, "/admin/events/stats")
    assert stats["eventLogs"]["logs"][0]["applied"] == 26, stats["eventLogs"]

    # C is killed with -9 right after it learned new events from the log (its model writes them
    # every 30 s: they were in memory only). Its resume points never pass what its model has not
    # written, so the restart reads them again: it converges, with nothing lost or applied twice.
    fresh = {"k-%d" % u for u in range(2, 6)}
    for u in range(2, 6):
        post(a, "shop", clicks("u-%d" % u, "s-%d" % u, ["k-%d" % u]))
    wait_for("C learning A's new events", lambda: fresh <= set(scores(c)), timeout=20)
    c.proc.kill()
    c.proc.wait()
    c = start(config, data_dir=c.data_dir)
    wait_for("C to converge after its kill -9", lambda: close(scores(c), scores(a)), timeout=30)

    # A accepts events while the cluster is down and is killed with -9: once the cluster is back
    # and A restarted on its data directory, B and C learn them (the outbox kept them).
    for broker in (1, 2, 3):
        CLUSTER.cmd("down %d" % broker)
    for u in range(2, 6):
        post(a, "shop", clicks("u-%d" % u, "s-%d" % u, ["late-%d" % u]))
    a.proc.kill()
    a.proc.wait()
    for broker in (1, 2, 3):
        CLUSTER.cmd("up %d" % broker)
    a2 = start(config, data_dir=a.data_dir)
    late = {"late-%d" % u for u in range(2, 6)}
    for s in (b2, c):
        wait_for("the killed instance's events", lambda: late <= set(scores(s)), timeout=60)
    # B and C learned the same log. (A's own model is not compared after its kill -9: its builtin
    # target may re-apply the last events it applied before the kill, the local at-least-once that
    # the builtin recommender's exactly-once work, issue 21, removes.)
    wait_for("B and C to agree", lambda: close(scores(b2), scores(c)), timeout=20)
    for s in (a2, b2, c):
        s.stop()


def test_event_log_counts_experiments_fleet_wide():
    """Exposures served by A and conversions posted to B: both instances' results count all of them
    (each counts its own records from its outbox and the other's from the log, once)."""
    CLUSTER.topic("exp-log", 2)
    cache = {"userSpecified": {"maxAge": 300, "directives": "private"},
             "syntheticUserSpecified": {"maxAge": 300, "directives": "public"},
             "noUserSpecified": {"maxAge": 300, "directives": "public"}}
    config = write_config("exp-log.json", {"shop": {
        "cacheControl": cache,
        "recommenders": {"recommend-items": {"for-you": {
            "variations": {"a": {"type": "builtin", "strategy": "popular"},
                           "b": {"type": "builtin", "strategy": "personalized"}},
            "experiments": {"home": {"method": "local", "metrics": {"clicks": {
                "entityIdKey": "userDetails.userId", "valueKey": "details.clicked"}}}}}}},
        "eventTargets": [{"type": "builtin"}],
        "eventLog": {"brokers": CLUSTER.bootstrap, "topic": "exp-log"}}})
    a = start(config)
    b = start(config)
    post(a, "shop", clicks("seed", "s-seed", ["i-1", "i-2"]))
    users = ["x-%d" % i for i in range(10)]
    for u in users:
        items(a, "/recommend-items/shop/for-you/%s?numResults=5" % u)  # an exposure, counted by A

    def totals(s):
        status, doc = http(s, "/experiments/shop/for-you/home")
        if status != 200:
            return None
        m = [x for x in doc["metrics"] if x["metric"] == "clicks"][0]
        return (int(doc["usersExposed"]), sum(int(v["conversions"]) for v in m["variations"]))

    # A conversion counts against the arm its user was exposed to, where it is counted: B must know
    # of the exposures (from the log, within the log's lag) before the users convert on B, as they
    # would seconds later in real traffic.
    wait_for("B counting A's exposures", lambda: totals(b) == (10, 0), timeout=30)
    for u in users[:4]:
        post(b, "shop", {"userId": u, "experimentConversions": [{"recommender": "for-you", "metric": "clicks"}]})
    for s, name in ((a, "A"), (b, "B")):
        wait_for("%s counting every exposure and conversion" % name, lambda: totals(s) == (10, 4), timeout=30)
    time.sleep(1)  # nothing is counted twice afterwards
    assert totals(a) == (10, 4) and totals(b) == (10, 4), (totals(a), totals(b))
    for s, records in ((a, 4), (b, 10)):
        _, stats = http(s, "/admin/events/stats")
        log = stats["eventLogs"]["logs"][0]
        assert log["experimentRecords"] == records and log["lastError"] is None, log
    for s in (a, b):
        s.stop()


def main():
    passed = failed = 0
    tests = sorted((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f))
    only = os.environ.get("PZ_TEST_FILTER")
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("[ OK ] %s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("[FAIL] %s\n%s" % (name, traceback.format_exc()), flush=True)
            for s in SERVERS[-3:]:
                print("---- server log (tail, access lines left out) ----\n%s" % s.log_tail(), flush=True)
        finally:
            for s in SERVERS:
                if s.proc is not None and s.proc.poll() is None:
                    s.proc.kill()
                    s.proc.wait()
            for b in range(1, CLUSTER.brokers + 1):  # a failed test must not leave the next one a broker short
                CLUSTER.cmd("up %d" % b)
    CLUSTER.close()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
