// A REST client generated from the served document: openapi-typescript turns /openapi.json into the
// `paths` types (./api.d.ts, made by the test), openapi-fetch makes the calls, and tsc --strict
// checks every path, parameter and response field used here against those types before it runs.
// Prints one JSON line; exits 1 when a call does not answer as the document says.
//
// Usage (after tsc): node client.js BASE_URL
import createClient from "openapi-fetch";
import type { paths } from "./api";

async function main(): Promise<void> {
  const baseUrl = process.argv[2];
  const client = createClient<paths>({ baseUrl });
  const rec = await client.GET("/recommend-items/demo/for-you/{user_id}", {
    params: { path: { user_id: "user-0001" }, query: { numResults: 3 } },
  });
  if (rec.data === undefined) throw new Error(`recommend-items: ${rec.response.status}`);
  const ids: string[] = rec.data.itemList.map((item) => item.itemId ?? "");
  const related = await client.GET("/related-items/demo/similar/{item_id}", {
    params: { path: { item_id: ids[0] }, query: { numResults: 2, decorateItems: false } },
  });
  const rerank = await client.POST("/rerank-items/demo/ranking/{user_id}", {
    params: { path: { user_id: "user-0001" } },
    body: ids.slice().reverse(),
  });
  const events = await client.POST("/events/demo", {
    body: { sessionId: "s-gen", userId: "user-0001", eventList: [{ eventType: "click", itemId: ids[0] }] },
    parseAs: "text",
  });
  // An error comes back typed as the document's Error schema (a JSON query parameter is a string here:
  // openapi-typescript types `content` parameters so).
  const bad = await client.GET("/recommend-items/demo/for-you/{user_id}", {
    params: { path: { user_id: "user-0001" }, query: { filterValues: JSON.stringify({ k: "x".repeat(1001) }) } },
  });
  const out = {
    recommend: { status: rec.response.status, ids },
    related: { status: related.response.status, n: related.data?.itemList.length ?? -1 },
    rerank: { status: rerank.response.status, ids: rerank.data?.personalizedRanking.map((i) => i.itemId) ?? [] },
    events: { status: events.response.status },
    error: { status: bad.response.status, code: bad.error?.code ?? null },
  };
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
