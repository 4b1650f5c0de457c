// Checks an OpenAPI document served by a running server with tools we did not write:
//   1. @apidevtools/swagger-parser validates it (OpenAPI 3.0 schema + $refs);
//   2. every operation is executed against the server (at its path item's own servers when it has
//      them: the admin listener's routes) with the document's own examples (path
//      parameter examples, request body examples), and each real response is checked against the
//      document: its status must be documented, its body must validate against the response schema
//      with ajv (an independent JSON Schema validator), and every header the document marks
//      required for that response must be there;
//   3. ajv must reject a response that breaks the schema (itemList removed), so the check can fail.
// Prints one JSON line {operations, executed, requiredHeadersSeen, failures, rejectedBroken}; exits 1
// on any failure.
//
// Usage: NODE_PATH=/opt/pz-test-tools/node_modules node check_document.js DOCUMENT_URL
const SwaggerParser = require("@apidevtools/swagger-parser");
const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const INT32 = [-2147483648, 2147483647];

function makeAjv() {
  // OpenAPI 3.0 schemas are JSON Schema plus a few keywords ajv does not know (example, nullable):
  // strict off ignores those; the OpenAPI formats ajv-formats lacks are defined here.
  const ajv = new Ajv({strict: false, allErrors: true});
  addFormats(ajv);
  ajv.addFormat("int32", {type: "number", validate: (n) => Number.isInteger(n) && n >= INT32[0] && n <= INT32[1]});
  ajv.addFormat("int64", {type: "string", validate: (s) => /^-?[0-9]+$/.test(s)});
  ajv.addFormat("float", {type: "number", validate: () => true});
  ajv.addFormat("double", {type: "number", validate: () => true});
  ajv.addFormat("byte", {type: "string", validate: (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s)});
  return ajv;
}

function buildUrl(base, path, op, pathParams) {
  let url = path;
  for (const p of pathParams) {
    if (p.example === undefined) throw new Error(`${path}: path parameter ${p.name} has no example`);
    const v = Array.isArray(p.example) ? p.example.map(encodeURIComponent).join(",") : encodeURIComponent(p.example);
    url = url.replace(`{${p.name}}`, v);
  }
  return base.replace(/\/$/, "") + url;
}

(async () => {
  const docUrl = process.argv[2];
  const raw = await (await fetch(docUrl)).json();
  await SwaggerParser.validate(JSON.parse(JSON.stringify(raw)));
  const doc = await SwaggerParser.dereference(JSON.parse(JSON.stringify(raw)));
  const base = new URL(doc.servers[0].url, docUrl).toString();
  const ajv = makeAjv();
  const failures = [];
  let operations = 0, executed = 0, requiredHeadersSeen = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post"]) {
      const op = item[method];
      if (!op) continue;
      operations++;
      const params = (op.parameters || []).concat(item.parameters || []);
      // a path item with its own servers (the admin listener's routes) is served there
      const itemBase = item.servers ? new URL(item.servers[0].url, docUrl).toString() : base;
      const url = buildUrl(itemBase, path, op, params.filter((p) => p.in === "path"));
      const init = {method: method.toUpperCase(), headers: {}};
      if (op.requestBody) {
        const [type, media] = Object.entries(op.requestBody.content)[0];
        if (media.example === undefined) throw new Error(`${method} ${path}: request body has no example`);
        init.headers["content-type"] = type;
        init.body = JSON.stringify(media.example);
      }
      const resp = await fetch(url, init);
      executed++;
      const text = await resp.text();
      const where = `${method.toUpperCase()} ${path} -> ${resp.status}`;
      const spec = op.responses[String(resp.status)];
      if (!spec) { failures.push(`${where}: status not documented (${text.slice(0, 200)})`); continue; }
      const ctype = (resp.headers.get("content-type") || "").split(";")[0].trim();
      if (spec.content) {
        const media = spec.content[ctype];
        if (!media) { failures.push(`${where}: content type ${ctype} not documented`); continue; }
        let body = text;
        if (ctype === "application/json") {
          try { body = JSON.parse(text); } catch (e) { failures.push(`${where}: not JSON`); continue; }
        }
        const validate = ajv.compile(media.schema);
        if (!validate(body)) failures.push(`${where}: ${ajv.errorsText(validate.errors)}`);
      }
      for (const [name, h] of Object.entries(spec.headers || {})) {
        if (h.required && !resp.headers.get(name)) failures.push(`${where}: required header ${name} missing`);
        else if (h.required) requiredHeadersSeen++;
      }
    }
  }
  // The same validator must refuse a broken answer, or the checks above prove nothing.
  const rec = Object.entries(doc.paths).find(([p]) => p.startsWith("/recommend-items/"));
  let rejectedBroken = false;
  if (rec) {
    const schema = rec[1].get.responses["200"].content["application/json"].schema;
    rejectedBroken = !ajv.compile(schema)({recommendationId: "RID-x"}) &&
                     !ajv.compile(schema)({itemList: [{itemId: 5}]});
  }
  console.log(JSON.stringify({operations, executed, requiredHeadersSeen, failures, rejectedBroken}));
  process.exit(failures.length === 0 && rejectedBroken ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
