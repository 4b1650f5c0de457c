#!/usr/bin/env node
// grpc-js client for tests/integration/auth: one RecommendItems call with the credential given, prints
// "OK <n items>" or "ERROR <status name> <details>" (and retry-after when sent).
//
//   node auth_client.js TARGET USER (--api-key KEY | --bearer TOKEN | --none)
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, user, kind, value] = process.argv.slice(2);
const protoPath = process.env.PZ_PROTO;
const definition = protoLoader.loadSync(protoPath, { keepCase: false, defaults: true });
const pkg = grpc.loadPackageDefinition(definition).personalization.v1;
const client = new pkg.PersonalizationService(target, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
if (kind === '--api-key') md.set('x-api-key', value);
if (kind === '--bearer') md.set('authorization', `Bearer ${value}`);
const names = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
client.recommendItems({ namespace: 'demo', recommender: 'for-you', userId: user, numResults: 3 }, md,
                      { deadline: new Date(Date.now() + 10000) }, (err, res) => {
  if (err) {
    const retry = err.metadata ? err.metadata.get('retry-after') : [];
    console.log(`ERROR ${names[err.code]} ${err.details}${retry.length ? ` retry-after=${retry[0]}` : ''}`);
  } else {
    console.log(`OK ${res.itemList.length}`);
  }
  client.close();
});
