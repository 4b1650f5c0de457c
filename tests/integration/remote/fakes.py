"""Fake AWS runtimes (Personalize, SageMaker, Lambda, DynamoDB) and a fake http recommender for
the remote-recommender integration tests: threaded http.server instances on loopback that speak
the documented JSON wire formats and verify every AWS request's SigV4 signature independently,
by recomputing it with botocore (python3-botocore) from the received request.

Behaviour is chosen by the request itself, so tests stay deterministic:
  Personalize  userId/itemId "slow-<ms>" sleeps first; "err-500", "throttle", "invalid",
               "bad-json", "bad-shape", "flaky" (503 once per id, then fine) misbehave;
               a campaign ARN ending in "-down" always answers 500.
  SageMaker    endpoint "error-endpoint" answers 424 ModelError.
  Lambda       function "broken-fn" fails (X-Amz-Function-Error); "post-fn" is a
               responsePostProcessor that reverses the items and tags them.
  DynamoDB     ids starting "unproc-" come back as UnprocessedKeys the first time; a key
               id starting "ddb-throttle" throttles the whole call.
Every request is recorded (path, headers, parsed body, signature verdict) for assertions.
"""
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sigv4_check import verify_sigv4 as check_sigv4  # noqa: E402

ACCESS_KEY = "AKIDFAKEREMOTE"
SECRET_KEY = "fake/secret+key"
SESSION_TOKEN = "fake-session-token-123"
REGION = "us-east-1"

def verify_sigv4(method, host_url, path, headers, body, service):
    """Recomputes the signature with botocore (tests/integration/sigv4_check.py) for our fixed
    credentials and region; returns (ok, reason)."""
    del host_url  # the signed Host header names it
    ok, why, scope = check_sigv4(method, path, headers, body, {ACCESS_KEY: (SECRET_KEY, SESSION_TOKEN)})
    if not ok:
        return False, why
    if scope["service"] != service:
        return False, "signed for service %s, expected %s" % (scope["service"], service)
    if scope["region"] != REGION:
        return False, "signed for region %s" % scope["region"]
    return True, ""


class Fake:
    """One fake upstream on 127.0.0.1:<port>; `service` is the SigV4 signing name (None: unsigned)."""

    def __init__(self, service):
        self.service = service
        self.requests = []
        self.connections = set()
        self.lock = threading.Lock()
        self.seen = {}
        self.tables = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response (no Nagle / delayed-ACK stalls)

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, b"")

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                fake.handle(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()

    def clear(self):
        with self.lock:
            self.requests.clear()
            self.connections.clear()

    def matching(self, pred):
        with self.lock:
            return [r for r in self.requests if pred(r)]

    # ---- plumbing ----

    def handle(self, h, body):
        headers = {k.lower(): v for k, v in h.headers.items()}
        ok, why = (True, "")
        if self.service:
            ok, why = verify_sigv4(h.command, self.url, h.path, headers, body, self.service)
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        rec = {"method": h.command, "path": h.path, "headers": headers, "body": doc, "raw": body, "sig_ok": ok,
               "sig_why": why, "client": h.client_address, "t": time.time()}
        with self.lock:
            self.requests.append(rec)
            self.connections.add(h.client_address)
        if not ok:
            return self.reply(h, 403, {"message": "The request signature we calculated does not match: " + why},
                              error_type="InvalidSignatureException")
        status, payload, extra = self.route(h.command, h.path, headers, doc, body)
        self.reply(h, status, payload, **extra)

    def reply(self, h, status, payload, error_type=None, headers=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        if error_type:
            h.send_header("x-amzn-ErrorType", error_type + ":http://internal.amazon.com/coral/")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def once(self, key):
        """True the first time `key` is seen."""
        with self.lock:
            first = key not in self.seen
            self.seen[key] = True
            return first

    # ---- services ----

    def route(self, method, path, headers, doc, raw):
        if self.service == "personalize":
            return self.personalize(path, doc)
        if self.service == "sagemaker":
            return self.sagemaker(path, doc)
        if self.service == "lambda":
            return self.lambda_(path, doc)
        if self.service == "dynamodb":
            return self.dynamodb(headers, doc)
        return self.http(path)

    @staticmethod
    def err(status, code, message):
        return status, {"message": message}, {"error_type": code}

    def misbehave(self, subject):
        """The shared bad behaviours, keyed by the user or item id."""
        subject = subject or ""
        m = re.match(r"slow-(\d+)", subject)
        if m:
            time.sleep(int(m.group(1)) / 1000.0)
        if subject == "err-500":
            return self.err(500, "InternalServerError", "something broke")
        if subject == "throttle":
            return self.err(429, "ThrottlingException", "Rate exceeded")
        if subject == "invalid":
            return self.err(400, "InvalidInputException", "Invalid filter values for filter exclude")
        if subject == "bad-json":
            return 200, b"{not json", {}
        if subject == "bad-shape":
            return 200, {"itemList": [{"score": 0.5}]}, {}
        if subject.startswith("flaky") and self.once(subject):
            return self.err(503, "ServiceUnavailable", "try again")
        return None

    def personalize(self, path, doc):
        if doc is None:
            return self.err(400, "SerializationException", "body is not JSON")
        arn = doc.get("campaignArn") or doc.get("recommenderArn") or ""
        if arn.endswith("-down"):
            return self.err(500, "InternalServerError", "campaign is down")
        bad = self.misbehave(doc.get("userId") or doc.get("itemId"))
        if bad:
            return bad
        meta_cols = (doc.get("metadataColumns") or {}).get("ITEMS")
        if path == "/personalize-ranking":
            ids = list(reversed(doc["inputList"]))
            items = [{"itemId": i, "score": round(1.0 / (k + 1), 4)} for k, i in enumerate(ids)]
            key = "personalizedRanking"
        elif path == "/recommendations":
            n = doc.get("numResults", 25)
            prefix = arn.rsplit("/", 1)[-1]
            items = [{"itemId": "%s-%d" % (prefix, k), "score": round(1.0 / (k + 1), 4)} for k in range(n)]
            if doc.get("promotions"):
                items[0]["promotionName"] = doc["promotions"][0]["name"]
                items[0]["reason"] = ["Promoted item"]
            key = "itemList"
        else:
            return self.err(404, "UnknownOperationException", "no such operation " + path)
        if meta_cols:
            for it in items:
                it["metadata"] = {c.lower(): "%s of %s" % (c.lower(), it["itemId"]) for c in meta_cols}
        return 200, {key: items, "recommendationId": "RID-fake-%s" % arn.rsplit("/", 1)[-1]}, {}

    def sagemaker(self, path, doc):
        m = re.match(r"/endpoints/([^/]+)/invocations$", path)
        if not m:
            return self.err(404, "UnknownOperationException", path)
        if m.group(1) == "error-endpoint":
            return self.err(424, "ModelError", "Received server error (500) from model")
        n = doc.get("numResults", 10)
        return 200, {"itemList": [{"itemId": "sm-%d" % k, "score": k} for k in range(n)]}, {}

    def lambda_(self, path, doc):
        m = re.match(r"/2015-03-31/functions/([^/?]+)/invocations(\?Qualifier=(.*))?$", path)
        if not m:
            return self.err(404, "ResourceNotFoundException", "Function not found: " + path)
        name = m.group(1)
        if name == "broken-fn":
            return 200, {"errorMessage": "boom: user table missing", "errorType": "KeyError"}, {
                "headers": {"X-Amz-Function-Error": "Unhandled"}}
        if name == "post-fn":
            items = doc["response"].get("itemList") or doc["response"].get("personalizedRanking")
            out = []
            for it in reversed(items):
                it = dict(it)
                it["reason"] = ["post-processed"]
                out.append(it)
            return 200, {"itemList": out, "recommendationId": "RID-post"}, {}
        n = doc.get("numResults", 10)
        return 200, {"itemList": [{"itemId": "fn-%d" % k} for k in range(n)]}, {}

    def dynamodb(self, headers, doc):
        if headers.get("x-amz-target") != "DynamoDB_20120810.BatchGetItem":
            return self.err(400, "UnknownOperationException", "unexpected target %s" % headers.get("x-amz-target"))
        if headers.get("content-type") != "application/x-amz-json-1.0":
            return self.err(400, "SerializationException", "bad content type")
        responses, unprocessed = {}, {}
        for table, spec in doc["RequestItems"].items():
            keys = spec["Keys"]
            if len(keys) > 100:
                return self.err(400, "ValidationException", "Too many items requested for the BatchGetItem call")
            ids = [k["id"]["S"] for k in keys]
            if any(i.startswith("ddb-throttle") for i in ids):
                return self.err(400, "ProvisionedThroughputExceededException", "throughput exceeded")
            rows = self.tables.get(table)
            if rows is None:
                return self.err(400, "ResourceNotFoundException", "Requested resource not found: " + table)
            later = [i for i in ids if i.startswith("unproc-") and self.once("ddb:" + i)]
            responses[table] = [rows[i] for i in ids if i in rows and i not in later]
            if later:
                unprocessed[table] = {"Keys": [{"id": {"S": i}} for i in later]}
        return 200, {"Responses": responses, "UnprocessedKeys": unprocessed}, {}

    def http(self, path):
        parsed = urllib.parse.urlsplit(path)
        q = urllib.parse.parse_qs(parsed.query)
        bad = self.misbehave(urllib.parse.unquote(parsed.path.rsplit("/", 1)[-1]))
        if bad:
            return bad
        n = int(q.get("n", ["10"])[0])
        return 200, {"itemList": [{"itemId": "h-%d" % k, "metadata": {"rank": k}} for k in range(n)],
                     "recommendationId": "RID-http"}, {}


def ddb_item(item_id, **attrs):
    """A row as upstream's loader writes it: {id, version, put_via, attributes: {M: ...}}."""
    def av(v):
        if isinstance(v, bool):
            return {"BOOL": v}
        if isinstance(v, (int, float)):
            return {"N": str(v)}
        if isinstance(v, list):
            return {"L": [av(x) for x in v]}
        if isinstance(v, dict):
            return {"M": {k: av(x) for k, x in v.items()}}
        if v is None:
            return {"NULL": True}
        return {"S": v}
    return {"id": {"S": item_id}, "version": {"S": "2024-01-01T00:00:00.000Z"}, "put_via": {"S": "bulk"},
            "attributes": {"M": {k: av(v) for k, v in attrs.items()}}}
