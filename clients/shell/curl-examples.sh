#!/usr/bin/env bash
# REST examples with curl against a running server (default: the demo on 127.0.0.1:8080).
#   clients/shell/curl-examples.sh [BASE_URL]
# Every command here is also in the README; tests/integration/clients_test.py runs this script.
set -euo pipefail
BASE=${1:-http://127.0.0.1:8080}

echo "# Recommendations for a user (GET /recommend-items/{namespace}/{recommender}/{user_id})"
curl -sS -i "$BASE/recommend-items/demo/for-you/user-0001?numResults=5"
echo; echo

echo "# Items related to an item"
curl -sS "$BASE/related-items/demo/similar/sku-00248?numResults=5"
echo; echo

echo "# Rerank ids for a user (GET, comma-separated) and the same with POST"
curl -sS "$BASE/rerank-items/demo/ranking/user-0001/sku-00632,sku-00248,sku-00165,sku-00580,sku-00002"
echo
curl -sS -X POST -H 'Content-Type: application/json' \
    -d '["sku-00632","sku-00248","sku-00165","sku-00580","sku-00002"]' \
    "$BASE/rerank-items/demo/ranking/user-0001"
echo; echo

echo "# Report events (the embedded recommender learns from them at once)"
curl -sS -i -X POST -H 'Content-Type: application/json' \
    -d '{"sessionId":"s-1","userId":"user-0001","eventList":[{"eventType":"click","itemId":"sku-00248"}]}' \
    "$BASE/events/demo"
echo; echo

echo "# An error keeps the upstream shape"
curl -sS "$BASE/recommend-items/demo/for-you/user-0001?numResults=abc"
echo
