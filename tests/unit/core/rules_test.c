/* Tests for server/core/rules.c: each rule alone, their order in combination, look-ahead, the
 * history and field ports (fakes here), filterValuesFromItem, and what the rules never touch
 * (scores, rerank). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config.h"
#include "server/core/rules.h"

/* ---- fakes ---- */

/* A catalog: item id -> "category" and "brand" (strings) and "price" (number). */
typedef struct fake_item {
    const char *id, *category, *brand;
    double price;
} fake_item;

static const fake_item CATALOG[] = {
    {"a", "shoes", "acme", 10}, {"b", "shoes", "zeta", 20}, {"c", "shoes", "acme", 30}, {"d", "hats", "acme", 40},
    {"e", "hats", "zeta", 50},  {"f", "bags", "acme", 60},  {"g", "bags", "zeta", 70},  {"h", "shoes", "zeta", 80},
};

static int field_calls;
static const pz_error *field_error;

static pz_status fake_fields(void *self, pz_field_lookup *job, pz_error *err)
{
    (void)self;
    field_calls++;
    if (field_error != NULL) {
        *err = *field_error;
        return err->status;
    }
    job->version = 7;
    for (size_t i = 0; i < job->n_ids; i++) {
        if (job->records != NULL) /* the stored bytes: here the catalog row's address */
            job->records[i] = (pz_item_record){.known = true};
        for (size_t k = 0; k < sizeof CATALOG / sizeof CATALOG[0]; k++) {
            if (strcmp(CATALOG[k].id, job->ids[i]) != 0)
                continue;
            if (job->records != NULL)
                job->records[i] =
                    (pz_item_record){.known = true, .found = true, .data = &CATALOG[k], .len = sizeof CATALOG[k]};
            for (size_t f = 0; f < job->n_fields; f++) {
                pz_field_value *v = &job->values[i * job->n_fields + f];
                const char *s = strcmp(job->fields[f], "category") == 0 ? CATALOG[k].category
                                : strcmp(job->fields[f], "brand") == 0  ? CATALOG[k].brand
                                                                        : NULL;
                if (s != NULL)
                    *v = (pz_field_value){.kind = PZ_FIELD_STR, .text = s, .len = strlen(s)};
                else if (strcmp(job->fields[f], "price") == 0)
                    *v = (pz_field_value){.kind = PZ_FIELD_NUM, .num = CATALOG[k].price};
            }
        }
    }
    return PZ_OK;
}

static void fake_decorate(void *self, pz_decoration *job)
{
    (void)self;
    job->done(job, NULL);
}

/* History: the ids in `seen`; records the last query. */
static const char *const *seen_ids;
static size_t n_seen;
static pz_history_query last_history;
static int history_calls;

static pz_status fake_seen(void *self, const pz_history_query *q, pz_arena *arena, const char ***ids, size_t *n,
                           pz_error *err)
{
    (void)self;
    (void)err;
    history_calls++;
    last_history = *q;
    const char **out = pz_arena_alloc(arena, (n_seen + 1) * sizeof *out);
    for (size_t i = 0; i < n_seen; i++)
        out[i] = seen_ids[i];
    *ids = out;
    *n = n_seen;
    return PZ_OK;
}

/* ---- fixture ---- */

typedef struct fixture {
    pz_config *cfg;
    pz_decorator *decorator;
    pz_rules_ports ports;
    pz_arena arena;
    pz_query q;
    pz_recommend_call call;
    pz_item_records records; /* what apply() kept for decoration */
} fixture;

/* A document whose recommend-items recommender "r" has the given rules (single quotes for double). */
static void setup_rules(fixture *f, const char *rules_q)
{
    char doc[4096];
    snprintf(doc, sizeof doc,
             "{'namespaces': {'ns': {'inferenceItemMetadata': {'type': 'localdb'}, 'recommenders': {"
             "'recommend-items': {'r': {'rules': %s, 'variations': {'v': {'type': 'builtin'}}}},"
             "'related-items': {'rel': {'rules': %s, 'variations': {'v': {'type': 'builtin'}}}}}}}}",
             rules_q, rules_q);
    for (char *c = doc; *c != '\0'; c++)
        if (*c == '\'')
            *c = '"';
    pz_config_problems p;
    pz_config_problems_init(&p);
    f->cfg = pz_config_parse(doc, strlen(doc), &p);
    for (size_t i = 0; i < p.n; i++)
        fprintf(stderr, "%s: %s\n", p.items[i].path, p.items[i].message);
    pz_config_problems_free(&p);
    assert_non_null(f->cfg);
    f->decorator = pz_decorator_create();
    pz_decorator_set_backend(f->decorator, PZ_ITEM_METADATA_LOCALDB,
                             &(pz_decorator_backend){.decorate = fake_decorate, .fields = fake_fields});
    f->ports = (pz_rules_ports){.history = {.seen = fake_seen}, .decorator = f->decorator};
    pz_arena_init(&f->arena);
    const pz_namespace *ns = pz_config_namespace(f->cfg, "ns");
    f->q = (pz_query){.action = PZ_ACTION_RECOMMEND_ITEMS,
                      .namespace_ = "ns",
                      .recommender_key = "r",
                      .user_id = "u1",
                      .num_results = 25,
                      .decorate_items = true,
                      .ns = ns,
                      .recommender = pz_config_recommender(ns, PZ_ACTION_RECOMMEND_ITEMS, "r"),
                      .received_ms = 1000000000};
    f->call = (pz_recommend_call){.query = &f->q};
    field_calls = 0;
    field_error = NULL;
    history_calls = 0;
    seen_ids = NULL;
    n_seen = 0;
}

static void teardown(fixture *f)
{
    pz_arena_destroy(&f->arena);
    pz_decorator_destroy(f->decorator);
    pz_config_unref(f->cfg);
}

static const pz_rules *rules_of(const fixture *f)
{
    return f->q.recommender->variations[0].rules_view;
}

/* The answer: ids in order, scores n - k (or none when unscored). */
static void answer(fixture *f, const char *ids, bool scored)
{
    char *copy = pz_arena_strdup(&f->arena, ids);
    size_t n = 0;
    for (const char *c = ids; *c; c++)
        n += *c == ',';
    n++;
    pz_scored_item *items = pz_arena_calloc(&f->arena, n, sizeof *items);
    size_t k = 0;
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ","), k++)
        items[k] = (pz_scored_item){.item_id = tok, .has_score = scored, .score = scored ? (double)(n - k) : 0};
    f->call.items = items;
    f->call.n_items = k;
    f->call.extras = NULL;
}

/* Applies the rules and returns the ids, comma-joined (static buffer). */
static const char *apply(fixture *f)
{
    pz_error err = {0};
    assert_int_equal(pz_rules_apply(&f->ports, rules_of(f), &f->q, &f->call, &f->records, &f->arena, &err), PZ_OK);
    static char out[1024];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < f->call.n_items; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? "," : "", f->call.items[i].item_id);
    return out;
}

static double score_of(const fixture *f, const char *id, bool *has)
{
    for (size_t i = 0; i < f->call.n_items; i++)
        if (strcmp(f->call.items[i].item_id, id) == 0) {
            *has = f->call.items[i].has_score;
            return f->call.items[i].score;
        }
    fail_msg("no item %s", id);
    return 0;
}

/* ---- tests ---- */

static void test_look_ahead(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'diversity': {'field': 'category', 'maxPerValue': 1}}");
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 25), 50); /* default multiplier 2 */
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 400), 500);
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 0), 0);
    assert_int_equal(pz_rules_look_ahead(NULL, 25), 25);
    teardown(&f);
    setup_rules(&f, "{'bury': [{'itemIds': ['x']}], 'lookAheadMultiplier': 3.5, 'lookAheadMaximumValue': 60}");
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 10), 35);
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 25), 60);
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 100), 100); /* never below numResults */
    teardown(&f);
    setup_rules(&f, "{'pin': [{'itemId': 'x', 'position': 1}]}"); /* pins alone need no look-ahead */
    assert_int_equal(pz_rules_look_ahead(rules_of(&f), 25), 25);
    teardown(&f);
}

static void test_exclude_seen(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'excludeSeen': {'eventTypes': ['purchase', 'cart'], 'windowSeconds': 3600}}");
    static const char *const seen[] = {"c", "a", "zz"};
    seen_ids = seen;
    n_seen = 3;
    answer(&f, "a,b,c,d", true);
    assert_string_equal(apply(&f), "b,d");
    assert_int_equal(history_calls, 1);
    assert_string_equal(last_history.ns, "ns");
    assert_string_equal(last_history.user_id, "u1");
    assert_int_equal(last_history.n_event_types, 2);
    assert_string_equal(last_history.event_types[1], "cart");
    assert_int_equal(last_history.since_ms, 1000000000 - 3600 * 1000);
    assert_int_equal(field_calls, 0); /* no rule reads fields */
    /* No user (related-items without userId): nothing asked, nothing left out. */
    f.q.user_id = NULL;
    answer(&f, "a,b,c,d", true);
    assert_string_equal(apply(&f), "a,b,c,d");
    assert_int_equal(history_calls, 1);
    teardown(&f);
    setup_rules(&f, "{'excludeSeen': {}}");
    answer(&f, "a,b", true);
    apply(&f);
    assert_int_equal(last_history.n_event_types, 0);
    assert_int_equal(last_history.since_ms, 0);
    teardown(&f);
}

static void test_bury(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'bury': [{'itemIds': ['a', 'c']}, {'field': 'category', 'values': ['hats']}]}");
    answer(&f, "a,b,c,d,f,e", true);
    assert_string_equal(apply(&f), "b,f,a,c,d,e");
    bool has;
    assert_true(score_of(&f, "a", &has) == 6 && has); /* scores are the recommender's */
    teardown(&f);
}

static void test_boost(void **state)
{
    (void)state;
    fixture f;
    /* Scores 4,3,2,1 for a,b,d,f: boosting bags (f) x5 -> 5 leads; acme (a,d,f) x1.2 too. */
    setup_rules(&f, "{'boost': [{'field': 'category', 'values': ['bags'], 'weight': 5}, "
                    "{'field': 'brand', 'values': ['acme'], 'weight': 1.2}]}");
    answer(&f, "b,a,d,f", true);
    assert_string_equal(apply(&f), "f,b,a,d"); /* f 1*5*1.2=6, b 4, a 3*1.2=3.6, d 2*1.2=2.4 */
    bool has;
    assert_true(score_of(&f, "f", &has) == 1 && has);
    teardown(&f);
    /* Without scores the rank value n - k is boosted; a weight below 1 demotes. */
    setup_rules(&f, "{'boost': [{'itemIds': ['a'], 'weight': 0.1}, {'field': 'price', 'values': [70], 'weight': 5}]}");
    answer(&f, "a,b,c,g", false);
    assert_string_equal(apply(&f), "g,b,c,a"); /* a 4*0.1, b 3, c 2, g 1*5 */
    teardown(&f);
}

static void test_diversity_cap(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'diversity': {'field': 'category', 'maxPerValue': 2}}");
    answer(&f, "a,b,c,h,d,e,x,y,f", true); /* x, y are not in the catalog: never capped */
    assert_string_equal(apply(&f), "a,b,d,e,x,y,f");
    assert_int_equal(field_calls, 1);
    teardown(&f);
}

static void test_diversity_mmr(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'diversity': {'field': 'category', 'method': 'mmr'}}");
    answer(&f, "a,b,c,d,e,f", true);
    f.q.num_results = 4;
    /* lambda 0.5: an unseen category always wins over a seen one; ties by rank. */
    assert_string_equal(apply(&f), "a,d,f,b,c,e");
    teardown(&f);
    setup_rules(&f, "{'diversity': {'field': 'category', 'method': 'mmr', 'lambda': 1}}");
    answer(&f, "a,b,c,d,e,f", true);
    assert_string_equal(apply(&f), "a,b,c,d,e,f"); /* lambda 1: relevance only */
    teardown(&f);
}

static void test_pin(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'pin': [{'itemId': 'new', 'position': 2}, {'itemId': 'd', 'position': 1}, "
                    "{'field': 'category', 'values': ['bags'], 'position': 4}, {'itemId': 'far', 'position': 99},"
                    "{'itemId': 'seen1', 'position': 3}]}");
    static const char *const seen[] = {"seen1"};
    seen_ids = seen;
    n_seen = 1;
    answer(&f, "a,b,c,d,f,g", true);
    /* d to 1, new (not returned: added, no score) to 2, seen1 to 3 (without excludeSeen the history
     * is not read), the best bag (f) to 4, far appended. */
    assert_string_equal(apply(&f), "d,new,seen1,f,a,b,c,g,far");
    assert_int_equal(history_calls, 0);
    bool has = true;
    score_of(&f, "new", &has);
    assert_false(has);
    assert_true(score_of(&f, "d", &has) == 3 && has);
    teardown(&f);
}

static void test_pin_respects_exclude_seen(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'excludeSeen': {}, 'pin': [{'itemId': 'a', 'position': 1}, {'itemId': 'x', 'position': 1}]}");
    static const char *const seen[] = {"a", "x"};
    seen_ids = seen;
    n_seen = 2;
    answer(&f, "b,a,c", true);
    assert_string_equal(apply(&f), "b,c");
    teardown(&f);
}

static void test_all_rules_in_order(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'excludeSeen': {}, 'bury': [{'itemIds': ['b']}], "
                    "'boost': [{'field': 'brand', 'values': ['zeta'], 'weight': 10}], "
                    "'diversity': {'field': 'category', 'maxPerValue': 1}, "
                    "'pin': [{'itemId': 'c', 'position': 1}]}");
    static const char *const seen[] = {"h"};
    seen_ids = seen;
    n_seen = 1;
    answer(&f, "a,b,c,d,e,f,g,h", true);
    /* h seen; b buried; zeta (e, g) boosted first: e,g,a,c,d,f,b; one per category: e,g,a
     * (shoes), then c, d, f, b dropped as repeats; c pinned to 1 (taken from the full list is
     * not possible: it was dropped by diversity, so it is added back as a pin by id) */
    assert_string_equal(apply(&f), "c,e,g,a");
    teardown(&f);
}

/* The records the field reader filled follow the items through the rules, for decoration: aligned
 * with the final list, an added pin not known; nothing when the rules read no field. */
static void test_records_follow_the_items(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f,
                "{'bury': [{'field': 'category', 'values': ['shoes']}], 'pin': [{'itemId': 'new', 'position': 2}]}");
    answer(&f, "a,d,zz,e", true);
    assert_string_equal(apply(&f), "d,new,zz,e,a");
    assert_int_equal(f.records.n, 5);
    assert_true(f.records.version == 7);
    static const char *const want[] = {"d", NULL, NULL, "e", "a"};
    for (size_t i = 0; i < 5; i++) {
        const pz_item_record *r = &f.records.items[i];
        if (want[i] != NULL)
            assert_string_equal(((const fake_item *)r->data)->id, want[i]);
        else
            assert_null(r->data);
    }
    assert_false(f.records.items[1].known);                             /* the added pin: decoration reads it */
    assert_true(f.records.items[2].known && !f.records.items[2].found); /* zz: read, not in the catalog */
    /* decorateItems=false: nothing kept */
    f.q.decorate_items = false;
    answer(&f, "a,d", true);
    assert_string_equal(apply(&f), "d,new,a");
    assert_null(f.records.items);
    teardown(&f);
    setup_rules(&f, "{'excludeSeen': {}}");
    answer(&f, "a,b", true);
    assert_string_equal(apply(&f), "a,b");
    assert_null(f.records.items);
    teardown(&f);
}

static void test_recommender_metadata_wins(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'diversity': {'field': 'category', 'maxPerValue': 1}}");
    answer(&f, "a,b,c", true);
    /* b says it is a hat, overriding the catalog's shoes. */
    static Google__Protobuf__Value hat = GOOGLE__PROTOBUF__VALUE__INIT;
    hat.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    hat.string_value = "hats";
    static Google__Protobuf__Struct__FieldsEntry entry = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    entry.key = "category";
    entry.value = &hat;
    static Google__Protobuf__Struct__FieldsEntry *entries[] = {&entry};
    static Google__Protobuf__Struct md = GOOGLE__PROTOBUF__STRUCT__INIT;
    md.n_fields = 1;
    md.fields = entries;
    pz_item_extra *extras = pz_arena_calloc(&f.arena, 3, sizeof *extras);
    extras[1].metadata = &md;
    extras[1].promotion_name = "promo";
    f.call.extras = extras;
    assert_string_equal(apply(&f), "a,b");
    assert_string_equal(f.call.extras[1].promotion_name, "promo"); /* extras follow their item */
    teardown(&f);
}

static void test_port_errors_fail_and_leave_the_call(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'diversity': {'field': 'category', 'maxPerValue': 1}}");
    answer(&f, "a,b,c", true);
    pz_error boom = {PZ_INTERNAL, "Unhandled", "ItemMetadataFailed", "boom"};
    field_error = &boom;
    pz_error err = {0};
    assert_int_equal(pz_rules_apply(&f.ports, rules_of(&f), &f.q, &f.call, NULL, &f.arena, &err), PZ_INTERNAL);
    assert_string_equal(err.code, "ItemMetadataFailed");
    assert_int_equal(f.call.n_items, 3);
    teardown(&f);
}

static void test_rerank_and_no_rules_untouched(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'bury': [{'itemIds': ['a']}]}");
    answer(&f, "a,b", true);
    f.q.action = PZ_ACTION_RERANK_ITEMS;
    assert_string_equal(apply(&f), "a,b");
    f.q.action = PZ_ACTION_RECOMMEND_ITEMS;
    pz_error err = {0};
    assert_int_equal(pz_rules_apply(&f.ports, NULL, &f.q, &f.call, NULL, &f.arena, &err), PZ_OK);
    assert_string_equal(f.call.items[0].item_id, "a");
    teardown(&f);
}

static void test_filter_values_from_item(void **state)
{
    (void)state;
    fixture f;
    setup_rules(&f, "{'filterValuesFromItem': {'CATEGORY': 'category', 'PRICE': 'price', 'BRAND': 'brand', "
                    "'COLOR': 'color'}}");
    const pz_namespace *ns = pz_config_namespace(f.cfg, "ns");
    f.q.action = PZ_ACTION_RELATED_ITEMS;
    f.q.recommender = pz_config_recommender(ns, PZ_ACTION_RELATED_ITEMS, "rel");
    f.q.item_id = "a";
    pz_error err = {0};
    /* none given: both found fields are added */
    assert_int_equal(pz_rules_filter_values_from_item(&f.ports, rules_of(&f), &f.q, &f.arena, &err), PZ_OK);
    assert_int_equal(f.q.n_filter_values, 3);
    assert_string_equal(f.q.filter_values[2]->value, "\"acme\"");
    f.q.item_id = "b";
    pz_string_entry given = {.key = "BRAND", .value = "\"mine\""};
    pz_string_entry *entries[] = {&given};
    f.q.filter_values = entries;
    f.q.n_filter_values = 1;
    assert_int_equal(pz_rules_filter_values_from_item(&f.ports, rules_of(&f), &f.q, &f.arena, &err), PZ_OK);
    assert_int_equal(f.q.n_filter_values, 3); /* BRAND given wins; COLOR absent adds nothing */
    assert_string_equal(f.q.filter_values[0]->value, "\"mine\"");
    assert_string_equal(f.q.filter_values[1]->key, "CATEGORY");
    assert_string_equal(f.q.filter_values[1]->value, "\"shoes\"");
    assert_string_equal(f.q.filter_values[2]->key, "PRICE");
    assert_string_equal(f.q.filter_values[2]->value, "20");
    /* recommend-items: not applied. */
    f.q.action = PZ_ACTION_RECOMMEND_ITEMS;
    assert_int_equal(pz_rules_filter_values_from_item(&f.ports, rules_of(&f), &f.q, &f.arena, &err), PZ_OK);
    assert_int_equal(f.q.n_filter_values, 3);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_look_ahead),
        cmocka_unit_test(test_exclude_seen),
        cmocka_unit_test(test_bury),
        cmocka_unit_test(test_boost),
        cmocka_unit_test(test_diversity_cap),
        cmocka_unit_test(test_diversity_mmr),
        cmocka_unit_test(test_pin),
        cmocka_unit_test(test_pin_respects_exclude_seen),
        cmocka_unit_test(test_all_rules_in_order),
        cmocka_unit_test(test_records_follow_the_items),
        cmocka_unit_test(test_recommender_metadata_wins),
        cmocka_unit_test(test_port_errors_fail_and_leave_the_call),
        cmocka_unit_test(test_rerank_and_no_rules_untouched),
        cmocka_unit_test(test_filter_values_from_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
