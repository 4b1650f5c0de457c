"""Fake AWS event endpoints for the integration tests: Personalize events (PutEvents), Kinesis Data
Streams (PutRecords) and Kinesis Data Firehose (PutRecordBatch), plus a webhook and a container
credentials endpoint.

Every AWS request's SigV4 signature is recomputed independently with botocore (Debian
python3-botocore) from the request as received, and the documented request shapes are checked; a
request that fails either check is answered like AWS would (403 InvalidSignatureException / 400
ValidationException / SerializationException) and recorded in `problems`, which the tests assert
stays empty.

Behaviour switches (set by the tests, read per request):
  down            answer every request with 503 ServiceUnavailable (or close the connection when
                  down == "close")
  fail_record     fn(record_dict) -> None or an ErrorCode: per-record failures (Kinesis, Firehose)
  reject_event    fn(event_dict) -> bool: Personalize answers 400 InvalidInputException for a call
                  holding such an event
"""
import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sigv4_check import verify_sigv4  # noqa: E402

class FakeAWS:
    """One fake service endpoint (a ThreadingHTTPServer on 127.0.0.1, port chosen by the OS)."""

    def __init__(self, kind, secrets, region="us-east-1", webhook_headers=None):
        assert kind in ("personalize", "kinesis", "firehose", "webhook", "credentials")
        self.kind = kind
        self.secrets = secrets
        self.region = region
        self.webhook_headers = webhook_headers or {}
        self.lock = threading.Lock()
        self.calls = []          # every request: dict(path, headers, body)
        self.records = []        # accepted envelopes (kinesis/firehose/webhook) or PutEvents bodies
        self.events = []         # accepted events (personalize) / the body events of accepted records
        self.problems = []       # signature or shape errors
        self.down = False
        self.fail_record = None
        self.reject_event = None
        self.credentials_doc = None
        self.scopes = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- plumbing ----

    def reply(self, h, status, doc, error_type=None):
        body = json.dumps(doc).encode() if doc is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/x-amz-json-1.1" if self.kind in ("kinesis", "firehose")
                      else "application/json")
        if error_type:
            h.send_header("x-amzn-ErrorType", error_type + ":http://internal.amazon.com/coral/")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def problem(self, h, why, status=400, error_type="ValidationException"):
        with self.lock:
            self.problems.append(why)
        self.reply(h, status, {"__type": error_type, "message": why}, error_type)

    def handle(self, h, method):
        length = int(h.headers.get("Content-Length", "0"))
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.calls.append({"path": h.path, "headers": headers, "body": body})
            down = self.down
        if down == "close":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if down:
            self.reply(h, 503, {"__type": "ServiceUnavailableException", "message": "down for the test"},
                       "ServiceUnavailableException")
            return
        if self.kind == "credentials":
            self.reply(h, 200, self.credentials_doc)
            return
        if self.kind == "webhook":
            self.webhook(h, headers, body)
            return
        ok, why, scope = verify_sigv4(method, h.path, headers, body, self.secrets)
        if not ok:
            self.problem(h, "SigV4: " + why, 403, "InvalidSignatureException")
            return
        expected_service = {"personalize": "personalize", "kinesis": "kinesis", "firehose": "firehose"}[self.kind]
        if scope["service"] != expected_service or scope["region"] != self.region:
            self.problem(h, "credential scope %s/%s, expected %s/%s" % (scope["region"], scope["service"],
                                                                        self.region, expected_service))
            return
        with self.lock:
            self.scopes.append(scope)
        try:
            doc = json.loads(body)
        except ValueError:
            self.problem(h, "body is not JSON", 400, "SerializationException")
            return
        getattr(self, self.kind)(h, headers, doc)

    # ---- services ----

    def personalize(self, h, headers, doc):
        if h.path != "/events" or not headers.get("content-type", "").startswith("application/json"):
            return self.problem(h, "PutEvents is POST /events with application/json, got %s %s" %
                                (h.path, headers.get("content-type")))
        allowed = {"trackingId", "sessionId", "userId", "eventList"}
        if set(doc) - allowed:
            return self.problem(h, "unexpected keys %s" % sorted(set(doc) - allowed))
        if not doc.get("trackingId") or not doc.get("sessionId"):
            return self.problem(h, "trackingId and sessionId are required")
        events = doc.get("eventList") or []
        if not 1 <= len(events) <= 10:
            return self.problem(h, "eventList holds %d events (1-10)" % len(events))
        for e in events:
            if not e.get("eventType") or not isinstance(e.get("sentAt"), (int, float)):
                return self.problem(h, "eventType and sentAt are required: %r" % e)
            if "properties" in e and not isinstance(e["properties"], str):
                return self.problem(h, "properties must be a JSON string")
            if len(e.get("impression", [])) > 25:
                return self.problem(h, "impression holds at most 25 ids")
        if self.reject_event and any(self.reject_event(e) for e in events):
            self.reply(h, 400, {"message": "invalid event"}, "InvalidInputException")
            return
        with self.lock:
            self.records.append(doc)
            self.events.extend(events)
        self.reply(h, 200, None)

    def _data_records(self, h, headers, doc, target, name_key, limit_bytes, newline):
        if h.path != "/" or headers.get("x-amz-target") != target or \
                headers.get("content-type") != "application/x-amz-json-1.1":
            return self.problem(h, "expected POST / with X-Amz-Target %s, got %s %s" %
                                (target, h.path, headers.get("x-amz-target")))
        if not isinstance(doc.get(name_key), str):
            return self.problem(h, "%s is required" % name_key)
        records = doc.get("Records")
        if not isinstance(records, list) or not 1 <= len(records) <= 500:
            return self.problem(h, "Records holds 1-500 records")
        total = 0
        decoded = []
        for r in records:
            data = base64.b64decode(r.get("Data", ""), validate=True)
            total += len(data) + len(r.get("PartitionKey", "").encode())
            if newline and not data.endswith(b"\n"):
                return self.problem(h, "Firehose records must end with a newline")
            if not newline and not 1 <= len(r.get("PartitionKey", "")) <= 256:
                return self.problem(h, "PartitionKey must be 1-256 characters")
            decoded.append((json.loads(data), r.get("PartitionKey")))
        if total > limit_bytes:
            return self.problem(h, "request payload %d bytes is over %d" % (total, limit_bytes))
        results, failed = [], 0
        for envelope, key in decoded:
            code = self.fail_record(envelope) if self.fail_record else None
            if code:
                failed += 1
                results.append({"ErrorCode": code, "ErrorMessage": "failed for the test"})
                continue
            with self.lock:
                self.records.append({"envelope": envelope, "key": key, "stream": doc[name_key]})
                self.events.extend(envelope["body"].get("eventList", []))
            results.append({"RecordId": "r"} if newline else {"SequenceNumber": "1", "ShardId": "shardId-0"})
        if newline:
            self.reply(h, 200, {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": results})
        else:
            self.reply(h, 200, {"FailedRecordCount": failed, "Records": results})

    def kinesis(self, h, headers, doc):
        self._data_records(h, headers, doc, "Kinesis_20131202.PutRecords", "StreamName", 5 << 20, False)

    def firehose(self, h, headers, doc):
        self._data_records(h, headers, doc, "Firehose_20150804.PutRecordBatch", "DeliveryStreamName", 4 << 20, True)

    def webhook(self, h, headers, body):
        for k, v in self.webhook_headers.items():
            if headers.get(k.lower()) != v:
                return self.problem(h, "webhook header %s: %r" % (k, headers.get(k.lower())))
        doc = json.loads(body)
        with self.lock:
            for envelope in doc["records"]:
                self.records.append({"envelope": envelope})
                self.events.extend(envelope["body"].get("eventList", []))
        self.reply(h, 200, {"ok": True})

    # ---- test helpers ----

    def event_ids(self):
        with self.lock:
            return [e["eventId"] for e in self.events]

    def snapshot(self):
        with self.lock:
            return list(self.records), list(self.problems)


def secrets_for(access_key, secret, token=None):
    return {access_key: (secret, token)}


def sha(data):
    return hashlib.sha256(data).hexdigest()
