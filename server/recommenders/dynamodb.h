/* Item metadata from DynamoDB (inferenceItemMetadata type `dynamodb`, spec §3.10, §5.4), for
 * catalogs too large to copy to every instance. Private to server/recommenders; it is the
 * decoration backend for PZ_ITEM_METADATA_DYNAMODB (server/core/decorate.h), run on the response
 * items once they are built.
 *
 *   - table `PersonalizationApiItemMetadata_{namespace}`, string hash key `id`;
 *   - BatchGetItem (POST / with X-Amz-Target DynamoDB_20120810.BatchGetItem) over the upstream
 *     engine, the unique item ids in chunks of at most PZ_DYNAMODB_BATCH_KEYS, all in parallel;
 *   - UnprocessedKeys are asked again after 250 ms, then 500 ms, ... (doubling, capped at
 *     1500 ms), PZ_DYNAMODB_MAX_TRIES tries in all and only while the deadline allows; keys still
 *     unprocessed then are left undecorated, as upstream does;
 *   - an item's metadata is its `attributes` map (upstream's loader writes {id, version, put_via,
 *     attributes}); an item without `attributes` gives all its attributes but `id`. DynamoDB types
 *     map to JSON: S string, N number (integral when whole), BOOL, NULL, M object, L array, SS/NS/BS
 *     arrays, B the base64 text;
 *   - items without a record keep their place and get no metadata; duplicates are decorated at
 *     every position; a found record replaces metadata the recommender returned.
 *   - region: AWS_REGION / AWS_DEFAULT_REGION / the profile, else the serving variation's region;
 *     endpoint: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, else the public one.
 * Errors map like every upstream's (remote.h) with type "DynamoDB"; throttling is a 429 (§14 #20).
 */
#ifndef PZ_DYNAMODB_H
#define PZ_DYNAMODB_H

#include <jansson.h>

#include "google/protobuf/struct.pb-c.h"
#include "server/recommenders/remote.h"

#define PZ_DYNAMODB_TABLE_PREFIX "PersonalizationApiItemMetadata_"
#define PZ_DYNAMODB_BATCH_KEYS 100
#define PZ_DYNAMODB_MAX_TRIES 3
#define PZ_DYNAMODB_BACKOFF_MS 250
#define PZ_DYNAMODB_BACKOFF_CAP_MS 1500

/* Decorates call->decoration->items from the namespace's table; completes with call->done (err
 * NULL on success, including when nothing was found). call->what names the table. */
void pz_dynamodb_decorate(pz_remote_call *call);

/* The BatchGetItem body for ids[0..n) of `table`. New reference. */
json_t *pz_dynamodb_batch_request(const char *table, const char *const *ids, size_t n);

/* An item's metadata (see above) as a Struct in the arena; NULL when the item is malformed. */
Google__Protobuf__Struct *pz_dynamodb_item_metadata(const json_t *item, pz_arena *arena);

#endif
