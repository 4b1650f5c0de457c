"""The OpenAPI document (issue #16) served by the real binary and judged by tools we did not write:
@redocly/cli lint and @apidevtools/swagger-parser validate it; every example request in it is run
against the server and each real response is validated against its schema with ajv
(check_document.js); a client generated from it (openapi-typescript types, openapi-fetch calls,
tsc --strict) calls the demo. Also: strong ETag and 304, servers from the request's origin or the
flag, regeneration on reload, --check-config --print-openapi, the .proto download."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import REPO_ROOT, TOOLS, Server, curl, curl_json, run_tests  # noqa: E402

TMP = tempfile.mkdtemp(prefix="pz-openapi-")
BUILTIN = {"type": "builtin"}
NODE_ENV = dict(os.environ, NODE_PATH=TOOLS, NO_COLOR="1", REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")


def experiments_config(version="exp-1", extra_recommender=None):
    """The demo namespace with an A/B experiment and event targets: matchedExperiment in the
    responses, the experiment results routes and the events route in the document."""
    recs = {"for-you": {"description": "personalized, in an A/B test",
                        "experiments": {"layout": {"method": "local", "description": "two strategies",
                                                   "metrics": {"clicks": {"entityIdKey": "itemId",
                                                                                     "valueKey": "eventValue"}}}},
                        "variations": {"personal": BUILTIN, "popular": {"type": "builtin", "strategy": "popular"}}}}
    if extra_recommender:
        recs[extra_recommender] = {"variations": {"p": {"type": "builtin", "strategy": "popular"}}}
    return {"version": version, "title": "Experiments API", "description": "the demo, with an experiment",
            "namespaces": {"demo": {"name": "Demo", "recommenders": {
                "recommend-items": recs,
                "related-items": {"similar": {"variations": {"c": BUILTIN}}},
                "rerank-items": {"ranking": {"variations": {"r": BUILTIN}}}},
                "eventTargets": [{"type": "builtin"}]}}}


def write_config(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)


def node(*args, timeout=180):
    return subprocess.run(["node"] + list(args), capture_output=True, text=True, timeout=timeout, env=NODE_ENV)


def check_document(url):
    p = node(os.path.join(HERE, "check_document.js"), url)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


METHODS = ("get", "post")  # what the document's path items hold besides `servers`


def operations_of(doc):
    return sorted("%s %s" % (m.upper(), path) for path, item in doc["paths"].items() for m in item if m in METHODS)


def test_document_served_with_strong_etag_and_304(s):
    status, hdrs, doc = curl_json(s, "/openapi.json")
    assert status == 200, status
    assert hdrs["content-type"] == "application/json"
    assert hdrs["cache-control"] == "no-cache"
    etag = hdrs["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/"), etag
    assert doc["openapi"] == "3.0.3" and doc["info"]["version"] == "demo-1", doc["info"]
    assert operations_of(doc) == sorted([
        "GET /recommend-items/demo/for-you/{user_id}", "GET /recommend-items/demo/popular/{user_id}",
        "GET /related-items/demo/similar/{item_id}", "GET /rerank-items/demo/ranking/{user_id}/{item_ids}",
        "POST /rerank-items/demo/ranking/{user_id}", "POST /events/demo", "GET /healthz", "GET /admin/cache/stats",
        "GET /admin/events/stats", "GET /admin/builtin/stats", "GET /admin/auth/stats", "GET /metrics",
        "GET /openapi.json", "GET /proto/personalization/v1/personalization.proto"])
    # the operators' routes are on the admin listener, and the document says where
    for path in ("/metrics", "/admin/cache/stats", "/admin/events/stats", "/admin/builtin/stats", "/admin/auth/stats"):
        assert [x["url"] for x in doc["paths"][path]["servers"]] == [s.admin_url("")], doc["paths"][path]
    assert "servers" not in doc["paths"]["/healthz"]
    status, hdrs2, body = curl(s, "/openapi.json", headers=("If-None-Match: " + etag,))
    assert status == 304 and body == b"" and hdrs2["etag"] == etag, (status, hdrs2)
    status, _, body = curl(s, "/openapi.json", headers=('If-None-Match: "0000000000000000"',))
    assert status == 200 and body
    status, hdrs3, _ = curl(s, "/openapi.json", "-I")  # HEAD: the GET's status and headers
    assert status == 200 and hdrs3["etag"] == etag and int(hdrs3["content-length"]) == int(hdrs["content-length"])


def test_servers_follow_the_request_origin(s):
    doc = curl_json(s, "/openapi.json")[2]
    assert doc["servers"] == [{"url": "http://127.0.0.1:%d" % s.http_port}], doc["servers"]
    status, hdrs, doc = curl_json(s, "/openapi.json", headers=("Host: api.example.test:8443",))
    assert doc["servers"] == [{"url": "http://api.example.test:8443"}], doc["servers"]
    # a Host that is not a plain host[:port] is not reflected
    status, hdrs, doc = curl_json(s, "/openapi.json", headers=("Host: evil.test/<script>",))
    assert doc["servers"] == [{"url": "/"}], doc["servers"]


def redocly_lint(server, name):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(curl(server, "/openapi.json")[2])
    p = subprocess.run([os.path.join(TOOLS, ".bin", "redocly"), "lint", path, "--format=stylish"],
                       capture_output=True, text=True, timeout=180, env=NODE_ENV)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Your API description is valid" in out, out  # errors fail; warnings do not
    print("    redocly: " + " | ".join(line.strip() for line in out.splitlines() if "warning" in line))


def test_redocly_lint(s):
    redocly_lint(s, "demo-openapi.json")


def test_every_example_validates_against_the_demo(s):
    """swagger-parser validation, then every operation run with the document's examples and its
    real response validated with ajv."""
    r = check_document(s.url("/openapi.json"))
    assert r["operations"] == 14 and r["executed"] == 14 and r["failures"] == [] and r["rejectedBroken"], r
    assert r["requiredHeadersSeen"] >= 16, r  # the demo's GETs have cache policies: ETag, Cache-Control, ...


def test_generated_typescript_client_calls_the_demo(s):
    work = tempfile.mkdtemp(prefix="pz-tsclient-", dir=TMP)
    types = os.path.join(work, "api.d.ts")
    p = subprocess.run([os.path.join(TOOLS, ".bin", "openapi-typescript"), s.url("/openapi.json"), "-o", types],
                       capture_output=True, text=True, timeout=120, env=NODE_ENV)
    assert p.returncode == 0 and os.path.exists(types), p.stdout + p.stderr
    with open(os.path.join(HERE, "client.ts")) as src, open(os.path.join(work, "client.ts"), "w") as dst:
        dst.write(src.read())
    with open(os.path.join(work, "tsconfig.json"), "w") as f:
        json.dump({"compilerOptions": {
            "strict": True, "module": "commonjs", "target": "es2022", "moduleResolution": "node",
            "esModuleInterop": True, "skipLibCheck": True, "lib": ["es2022", "dom"], "types": ["node"],
            "typeRoots": [os.path.join(TOOLS, "@types")], "baseUrl": ".",
            "paths": {"openapi-fetch": [os.path.join(TOOLS, "openapi-fetch")]}, "outDir": "out"},
            "files": ["client.ts"]}, f)
    p = subprocess.run([os.path.join(TOOLS, ".bin", "tsc"), "-p", os.path.join(work, "tsconfig.json")],
                       capture_output=True, text=True, timeout=180, env=NODE_ENV)
    assert p.returncode == 0, p.stdout + p.stderr  # every path and field the client uses is in the types
    p = node(os.path.join(work, "out", "client.js"), s.url(""))
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["recommend"]["status"] == 200 and len(r["recommend"]["ids"]) == 3, r
    assert all(i.startswith("sku-") for i in r["recommend"]["ids"]), r
    assert r["related"] == {"status": 200, "n": 2}, r
    assert r["rerank"]["status"] == 200 and sorted(r["rerank"]["ids"]) == sorted(r["recommend"]["ids"]), r
    assert r["events"] == {"status": 200}, r
    assert r["error"] == {"status": 400, "code": "InvalidFilterParameter"}, r


def test_experiments_config_document_and_reload(s):
    """A configuration with an experiment and event targets: matchedExperiment and the results
    routes validate too; a reload regenerates the document (new path, new version, new ETag)."""
    path = os.path.join(TMP, "experiments.json")
    write_config(path, experiments_config())
    srv = Server(s.binary_path, args=["--demo", "--config", path]).start()
    try:
        status, hdrs, doc = curl_json(srv, "/openapi.json")
        assert doc["info"] == {"title": "Experiments API", "description": "the demo, with an experiment",
                               "version": "exp-1"}, doc["info"]
        assert "/experiments/demo/for-you/layout" in doc["paths"], list(doc["paths"])
        assert [t["name"] for t in doc["tags"]] == ["Demo: Recommend Items", "Demo: Related Items",
                                                    "Demo: Rerank Items", "Demo: Events", "Demo: Experiments",
                                                    "Server"], doc["tags"]
        rec = curl_json(srv, "/recommend-items/demo/for-you/user-0001?numResults=2")[2]
        assert rec["matchedExperiment"]["feature"] == "layout", rec
        r = check_document(srv.url("/openapi.json"))
        assert r["executed"] == r["operations"] == 15 and r["failures"] == [], r
        etag = hdrs["etag"]
        write_config(path, experiments_config(version="exp-2", extra_recommender="trending"))
        deadline = time.time() + 20
        while time.time() < deadline:
            status, hdrs2, doc2 = curl_json(srv, "/openapi.json", headers=("If-None-Match: " + etag,))
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200 and hdrs2["etag"] != etag, status
        assert doc2["info"]["version"] == "exp-2"
        assert "/recommend-items/demo/trending/{user_id}" in doc2["paths"]
        # a rejected reload keeps the document of the snapshot still served
        with open(path, "w") as f:
            f.write("{not json")
        time.sleep(1.5)
        status, hdrs3, _ = curl_json(srv, "/openapi.json", headers=("If-None-Match: " + hdrs2["etag"],))
        assert status == 304, status
    finally:
        srv.stop()
        srv.cleanup()


def test_paginated_recommender_document(s):
    """Post-ranking rules with pagination (issue 20): the recommender's operation lists pageToken,
    the document still lints and validates, every example answer (a first page with its
    nextPageToken) validates against the schema, and the token as documented fetches a page that
    validates too and repeats no item."""
    cfg = experiments_config(version="pages-1")
    recs = cfg["namespaces"]["demo"]["recommenders"]["recommend-items"]
    recs["feed"] = {"rules": {"pagination": {"maxItems": 60}},
                    "variations": {"p": {"type": "builtin", "strategy": "popular"}}}
    path = os.path.join(TMP, "pages.json")
    write_config(path, cfg)
    srv = Server(s.binary_path, args=["--demo", "--config", path]).start()
    try:
        doc = curl_json(srv, "/openapi.json")[2]
        params = {p["$ref"].rsplit("/", 1)[1] for p in doc["paths"]["/recommend-items/demo/feed/{user_id}"]["get"]
                  ["parameters"] if "$ref" in p}
        assert "pageToken" in params, params
        others = {p.get("$ref") for p in doc["paths"]["/recommend-items/demo/for-you/{user_id}"]["get"]["parameters"]}
        assert "#/components/parameters/pageToken" not in others, others
        assert doc["components"]["parameters"]["pageToken"]["schema"]["maxLength"] == 64
        assert "nextPageToken" in doc["components"]["schemas"]["RecommendationResponse"]["properties"]
        redocly_lint(srv, "pages-openapi.json")
        r = check_document(srv.url("/openapi.json"))
        assert r["executed"] == r["operations"] == 16 and r["failures"] == [], r
        first = curl_json(srv, "/recommend-items/demo/feed/user-0001?numResults=5")[2]
        token = first["nextPageToken"]
        status, _, page = curl_json(srv, "/recommend-items/demo/feed/user-0001?numResults=5&pageToken=" + token)
        assert status == 200 and page["recommendationId"] == first["recommendationId"], (status, page)
        seen = [i["itemId"] for i in first["itemList"]]
        assert len(page["itemList"]) == 5 and not set(seen) & {i["itemId"] for i in page["itemList"]}, page
        # the answer validates against the document's schema for the operation (ajv)
        files = []
        for name, value in (("pages-doc.json", doc), ("pages-page.json", page)):
            files.append(os.path.join(TMP, name))
            with open(files[-1], "w") as f:
                json.dump(value, f)
        p = node("-e", VALIDATE_JS, *files)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        srv.stop()
        srv.cleanup()


# Validates the response body in file argv[2] against the 200 schema of GET /recommend-items/demo/feed
# in the document in file argv[1], with swagger-parser to resolve $refs and ajv as check_document.js
# does.
VALIDATE_JS = """
const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");
const Ajv = require("ajv");
const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
(async () => {
  const doc = await SwaggerParser.dereference(read(process.argv[1]));
  const schema = doc.paths["/recommend-items/demo/feed/{user_id}"].get.responses["200"].content["application/json"]
    .schema;
  const ajv = new Ajv({strict: false, allErrors: true, validateFormats: false});
  const validate = ajv.compile(schema);
  if (!validate(read(process.argv[2]))) { console.log(ajv.errorsText(validate.errors)); process.exit(1); }
})().catch((e) => { console.error(e); process.exit(1); });
"""


API_KEY = "pzk_openapi_test_key"


def test_auth_config_document(s):
    """Root auth with an API key, one namespace serving without credentials: the document declares
    the scheme and each operation's requirement, passes redocly and swagger-parser, every operation
    run without a credential gets a documented answer (401 where required), and the scheme as
    documented (header x-api-key) gets through."""
    cfg = experiments_config(version="auth-1")
    cfg["auth"] = {"apiKeys": [{"name": "docs", "sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                                "namespaces": ["*"], "scopes": ["inference", "events", "admin"]}]}
    cfg["namespaces"]["open"] = {"auth": {}, "recommenders": {"recommend-items": {
        "top": {"variations": {"p": {"type": "builtin", "strategy": "popular"}}}}}}
    path = os.path.join(TMP, "auth.json")
    write_config(path, cfg)
    srv = Server(s.binary_path, args=["--demo", "--config", path]).start()
    try:
        doc = curl_json(srv, "/openapi.json")[2]  # the document itself is public
        schemes = doc["components"]["securitySchemes"]
        assert schemes == {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                      "description": schemes["apiKey"]["description"]}}, schemes
        assert doc["security"] == [{"apiKey": []}], doc["security"]
        ops = {"%s %s" % (m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()
               if m in METHODS}
        for name, op in ops.items():
            public = name.startswith(("GET /healthz", "GET /openapi.json", "GET /proto/",
                                      "GET /recommend-items/open/"))
            assert op["security"] == ([] if public else [{"apiKey": []}]), (name, op["security"])
            assert ("401" in op["responses"]) == (not public), (name, sorted(op["responses"]))
        redocly_lint(srv, "auth-openapi.json")
        r = check_document(srv.url("/openapi.json"))  # no credential: 401 on the secured ones, validated
        assert r["executed"] == r["operations"] == len(ops) and r["failures"] == [], r
        status, hdrs, _ = curl(srv, "/recommend-items/demo/for-you/user-0001")
        assert status == 401 and "apikey" in hdrs["www-authenticate"].lower(), (status, hdrs)
        status, _, body = curl(srv, "/related-items/demo/similar/sku-00248?numResults=2",
                               headers=("x-api-key: " + API_KEY,))
        assert status == 200 and len(json.loads(body)["itemList"]) == 2, (status, body)
        # An exposure right before the SIGTERM below (srv.stop expects a clean exit): a target first
        # seen while the pipeline stops used to get a delivery thread that outlived the experiment
        # store and crashed the server.
        status, _, body = curl(srv, "/recommend-items/demo/for-you/user-0001?numResults=2",
                               headers=("x-api-key: " + API_KEY,))
        assert status == 200 and "matchedExperiment" in json.loads(body), (status, body)
        assert curl(srv, "/recommend-items/open/top/user-0001")[0] == 200
    finally:
        srv.stop()
        srv.cleanup()


def test_print_openapi_is_the_served_document(s):
    """--check-config --print-openapi writes the same document the server serves for the same
    configuration and server URL; problems go to stderr so stdout stays JSON."""
    url = "https://api.example.test"
    srv = Server(s.binary_path, args=["--demo", "--openapi-server", url]).start()
    try:
        served = curl(srv, "/openapi.json")[2]
    finally:
        srv.stop()
        srv.cleanup()
    # the admin routes name the admin listener: the same one (host and port) as the server's
    p = subprocess.run([s.binary_path, "--check-config", "--demo", "--print-openapi", "--openapi-server", url,
                        "--admin-port", str(srv.admin_port)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"is valid" in p.stderr, p.stderr
    printed = json.loads(p.stdout)
    assert printed["servers"] == [{"url": url}]
    assert printed["paths"]["/metrics"]["servers"][0]["url"] == srv.admin_url(""), printed["paths"]["/metrics"]
    assert served == p.stdout  # byte for byte
    # without --openapi-server: "/", relative to where the document is published
    p = subprocess.run([s.binary_path, "--check-config", "--demo", "--print-openapi"], capture_output=True, timeout=60)
    assert json.loads(p.stdout)["servers"] == [{"url": "/"}]
    # an invalid configuration prints no document and fails
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        f.write('{"namespaces": 5}')
    p = subprocess.run([s.binary_path, "--check-config", "--config", bad, "--print-openapi"], capture_output=True,
                       timeout=60)
    assert p.returncode == 1 and p.stdout == b"" and b"error" in p.stderr, (p.returncode, p.stdout, p.stderr)
    # it goes with --check-config
    p = subprocess.run([s.binary_path, "--demo", "--print-openapi"], capture_output=True, timeout=60)
    assert p.returncode == 2 and b"--print-openapi goes with --check-config" in p.stderr, p.stderr
    p = subprocess.run([s.binary_path, "--demo", "--check-config", "--openapi-server", "api.example.test"],
                       capture_output=True, timeout=60)
    assert p.returncode == 2 and b"absolute URL" in p.stderr, p.stderr


def test_proto_download(s):
    status, hdrs, body = curl(s, "/proto/personalization/v1/personalization.proto")
    assert status == 200 and hdrs["content-type"] == "text/plain; charset=utf-8", (status, hdrs)
    with open(os.path.join(REPO_ROOT, "proto", "personalization", "v1", "personalization.proto"), "rb") as f:
        assert body == f.read()
    status, _, body = curl(s, "/proto/personalization/v1/personalization.proto",
                           headers=("If-None-Match: " + hdrs["etag"],))
    assert status == 304 and body == b""
    # the downloaded file is all a gRPC client needs: buf curl with it as the schema (no reflection)
    work = tempfile.mkdtemp(prefix="pz-proto-", dir=TMP)
    os.makedirs(os.path.join(work, "personalization", "v1"))
    with open(os.path.join(work, "personalization", "v1", "personalization.proto"), "wb") as f:
        f.write(curl(s, "/proto/personalization/v1/personalization.proto")[2])
    p = subprocess.run([os.path.join(TOOLS, ".bin", "buf"), "curl", "--schema", work, "--protocol", "grpc",
                        "--http2-prior-knowledge", "-d",
                        '{"namespace":"demo","recommender":"for-you","userId":"user-0001","numResults":2}',
                        "http://%s/personalization.v1.PersonalizationService/RecommendItems" % s.grpc_target],
                       capture_output=True, text=True, timeout=120, env=NODE_ENV, cwd=work)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(json.loads(p.stdout)["itemList"]) == 2, p.stdout
    # the other methods: not a route (404), as every local row
    status, _, _ = curl(s, "/proto/personalization/v1/personalization.proto", method="POST")
    assert status == 404


if __name__ == "__main__":
    run_tests(globals())
