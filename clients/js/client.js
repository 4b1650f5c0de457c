#!/usr/bin/env node
// Example JavaScript client: the REST API with fetch (as a web or mobile app would call it) and
// the gRPC API with @grpc/grpc-js (as a Node backend would), against the same server.
//
//   node clients/js/client.js [--rest http://127.0.0.1:8080] [--grpc 127.0.0.1:50051] [--user user-0001]
//
// Needs Node 18+ (global fetch) and the npm packages @grpc/grpc-js and @grpc/proto-loader
// (`bazel/setup.sh --test` installs them in /opt/pz-test-tools; NODE_PATH points there).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const args = { rest: 'http://127.0.0.1:8080', grpc: '127.0.0.1:50051', user: 'user-0001', namespace: 'demo' };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    args[key] = argv[i + 1];
  }
  return args;
}

async function rest(args) {
  const url = `${args.rest}/recommend-items/${args.namespace}/for-you/${encodeURIComponent(args.user)}?numResults=3`;
  const res = await fetch(url);
  const body = await res.json();
  console.log(`REST ${res.status}: ${body.itemList.map((i) => i.itemId).join(', ')} ` +
              `(config ${res.headers.get('x-personalization-config-version')}, ` +
              `cache-control ${res.headers.get('cache-control')})`);
  const events = await fetch(`${args.rest}/events/${args.namespace}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sessionId: 'js-session', userId: args.user,
                           eventList: [{ eventType: 'click', itemId: body.itemList[0].itemId }] }),
  });
  console.log(`REST events ${events.status}`);
  const bad = await fetch(`${args.rest}/recommend-items/${args.namespace}/for-you/${args.user}?numResults=x`);
  const err = await bad.json();
  console.log(`REST error ${bad.status}: ${err.type}/${err.code}`);
}

function grpcCall(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 5000);
    let metadata = null;
    const call = client[method](request, { deadline }, (e, response) => (e ? reject(e) : resolve({ response, metadata })));
    call.on('metadata', (md) => { metadata = md; });
  });
}

async function grpcDemo(args) {
  const protoPath = path.join(__dirname, '..', '..', 'proto', 'personalization', 'v1', 'personalization.proto');
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, defaults: true, longs: String });
  const pkg = grpc.loadPackageDefinition(definition).personalization.v1;
  const client = new pkg.PersonalizationService(args.grpc, grpc.credentials.createInsecure());
  try {
    const { response, metadata } = await grpcCall(client, 'RecommendItems', {
      namespace: args.namespace, recommender: 'for-you', userId: args.user, numResults: 3 });
    console.log(`gRPC RecommendItems: ${response.itemList.map((i) => i.itemId).join(', ')} ` +
                `(config ${metadata.get('x-personalization-config-version')[0]})`);
    const ranked = await grpcCall(client, 'RerankItems', {
      namespace: args.namespace, recommender: 'ranking', userId: args.user,
      itemIds: response.itemList.map((i) => i.itemId).reverse() });
    console.log(`gRPC RerankItems: ${ranked.response.personalizedRanking.map((i) => i.itemId).join(', ')}`);
    try {
      await grpcCall(client, 'RecommendItems', { namespace: 'nope', recommender: 'x', userId: args.user });
    } catch (e) {
      console.log(`gRPC error: ${grpc.status[e.code]}: ${e.details}`);
    }
  } finally {
    client.close();
  }
}

async function main() {
  const args = parseArgs(process.argv);
  await rest(args);
  await grpcDemo(args);
}

main().catch((e) => { console.error(e); process.exit(1); });
