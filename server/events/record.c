/* Outbox records: rendering the upstream envelope and the binary header (record.h). */
#include "server/events/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "server/core/num.h"

#define HEADER_FIXED 4    /* version, flags, n_targets */
#define HEADER_LENGTHS 10 /* five u16 after the target list */
#define RECORD_VERSION 1

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- JSON helpers ---- */

int pz_json_number(pz_buf *b, double d)
{
    if (!isfinite(d))
        return pz_buf_append_str(b, "null");
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return pz_buf_printf(b, "%.0f", d);
    char tmp[40];
    size_t n = pz_format_double_roundtrip(d, tmp);
    return pz_buf_append(b, tmp, n);
}

/* ---- the envelope ---- */

static int key(pz_buf *b, const char *k, bool *first)
{
    int rc = *first ? 0 : pz_buf_append_char(b, ',');
    *first = false;
    if (rc == 0)
        rc = pz_json_write_string(b, k, strlen(k));
    return rc == 0 ? pz_buf_append_char(b, ':') : rc;
}

static int opt_string(pz_buf *b, const char *k, const char *v, bool *first)
{
    if (v == NULL)
        return 0;
    int rc = key(b, k, first);
    return rc == 0 ? pz_json_write_string(b, v, strlen(v)) : rc;
}

static int write_event(pz_buf *b, const Personalization__V1__Event *ev)
{
    bool first = true;
    int rc = pz_buf_append_char(b, '{');
    rc |= opt_string(b, "eventId", ev->event_id, &first);
    rc |= opt_string(b, "eventType", ev->event_type, &first);
    if (ev->has_event_value) {
        rc |= key(b, "eventValue", &first);
        rc |= pz_json_number(b, ev->event_value);
    }
    rc |= opt_string(b, "itemId", ev->item_id, &first);
    if (ev->n_impression > 0) {
        rc |= key(b, "impression", &first);
        rc |= pz_buf_append_char(b, '[');
        for (size_t i = 0; i < ev->n_impression; i++) {
            if (i > 0)
                rc |= pz_buf_append_char(b, ',');
            rc |= pz_json_write_string(b, ev->impression[i], strlen(ev->impression[i]));
        }
        rc |= pz_buf_append_char(b, ']');
    }
    rc |= opt_string(b, "recommendationId", ev->recommendation_id, &first);
    rc |= opt_string(b, "properties", ev->properties, &first);
    if (ev->has_sent_at) {
        rc |= key(b, "sentAt", &first);
        rc |= pz_json_number(b, ev->sent_at);
    }
    if (ev->metric_attribution != NULL && ev->metric_attribution->event_attribution_source != NULL) {
        bool inner = true;
        rc |= key(b, "metricAttribution", &first);
        rc |= pz_buf_append_char(b, '{');
        rc |= opt_string(b, "eventAttributionSource", ev->metric_attribution->event_attribution_source, &inner);
        rc |= pz_buf_append_char(b, '}');
    }
    rc |= pz_buf_append_char(b, '}');
    return rc;
}

static int write_conversion(pz_buf *b, const Personalization__V1__ExperimentConversion *c)
{
    bool first = true;
    int rc = pz_buf_append_char(b, '{');
    rc |= opt_string(b, "recommender", c->recommender, &first);
    rc |= opt_string(b, "feature", c->feature, &first);
    rc |= opt_string(b, "metric", c->metric, &first);
    if (c->has_value) {
        rc |= key(b, "value", &first);
        rc |= pz_json_number(b, c->value);
    }
    rc |= pz_buf_append_char(b, '}');
    return rc;
}

static int write_body(pz_buf *b, const Personalization__V1__PutEventsRequest *in)
{
    bool first = true;
    int rc = pz_buf_append_char(b, '{');
    rc |= opt_string(b, "sessionId", in->session_id, &first);
    rc |= opt_string(b, "userId", in->user_id, &first);
    if (in->n_event_list > 0) {
        rc |= key(b, "eventList", &first);
        rc |= pz_buf_append_char(b, '[');
        for (size_t i = 0; i < in->n_event_list; i++) {
            if (i > 0)
                rc |= pz_buf_append_char(b, ',');
            rc |= write_event(b, in->event_list[i]);
        }
        rc |= pz_buf_append_char(b, ']');
    }
    if (in->n_experiment_conversions > 0) {
        rc |= key(b, "experimentConversions", &first);
        rc |= pz_buf_append_char(b, '[');
        for (size_t i = 0; i < in->n_experiment_conversions; i++) {
            if (i > 0)
                rc |= pz_buf_append_char(b, ',');
            rc |= write_conversion(b, in->experiment_conversions[i]);
        }
        rc |= pz_buf_append_char(b, ']');
    }
    rc |= pz_buf_append_char(b, '}');
    return rc;
}

static bool is_secret_header(const pz_header *h)
{
    static const char *const SECRET[] = {"authorization", "proxy-authorization", "x-api-key", "cookie"};
    for (size_t i = 0; i < sizeof SECRET / sizeof SECRET[0]; i++) {
        if (h->name_len == strlen(SECRET[i]) && memcmp(h->name, SECRET[i], h->name_len) == 0)
            return true;
    }
    return false;
}

static bool same_name(const pz_header *a, const pz_header *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

static int write_headers(pz_buf *b, const pz_header *headers, size_t n)
{
    int rc = pz_buf_append_char(b, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const pz_header *h = &headers[i];
        bool later = false; /* the last value of a repeated name wins, as in API Gateway's `headers` */
        for (size_t j = i + 1; j < n && !later; j++)
            later = same_name(h, &headers[j]);
        if (later || h->name_len == 0 || h->name[0] == ':')
            continue;
        if (!first)
            rc |= pz_buf_append_char(b, ',');
        first = false;
        rc |= pz_json_write_string(b, h->name, h->name_len);
        rc |= pz_buf_append_char(b, ':');
        if (is_secret_header(h))
            rc |= pz_json_write_string(b, PZ_EVREC_REDACTED, strlen(PZ_EVREC_REDACTED));
        else
            rc |= pz_json_write_string(b, h->value, h->value_len);
    }
    return rc | pz_buf_append_char(b, '}');
}

/* Appends the percent-encoded namespace (the path segment as a REST client would send it). */
static int write_path(pz_buf *b, const char *ns)
{
    int rc = pz_buf_append_str(b, "/events/");
    for (const unsigned char *p = (const unsigned char *)ns; *p != '\0' && rc == 0; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                     *p == '_' || *p == '.' || *p == '~';
        rc = plain ? pz_buf_append_char(b, (char)*p) : pz_buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

static int write_envelope(pz_buf *b, const Personalization__V1__PutEventsRequest *in, const pz_events_body *raw,
                          const char *ns, const pz_header *headers, size_t n_headers)
{
    pz_buf path;
    pz_buf_init(&path, 4096);
    int rc = write_path(&path, ns);
    rc |= pz_buf_append_str(b, "{\"namespace\":");
    rc |= pz_json_write_string(b, ns, strlen(ns));
    rc |= pz_buf_append_str(b, ",\"path\":");
    rc |= pz_json_write_string(b, path.data ? path.data : "", path.len);
    rc |= pz_buf_append_str(b, ",\"headers\":");
    rc |= write_headers(b, headers, n_headers);
    rc |= pz_buf_append_str(b, ",\"queryStringParameters\":null,\"body\":");
    rc |= raw != NULL ? pz_buf_append(b, raw->json, raw->len) : write_body(b, in);
    rc |= pz_buf_append_char(b, '}');
    pz_buf_free(&path);
    return rc;
}

static size_t clamp16(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > UINT16_MAX ? UINT16_MAX : n;
}

int pz_evrec_render(const Personalization__V1__PutEventsRequest *in, const char *ns, const pz_header *headers,
                    size_t n_headers, size_t n_targets, const char *random_key, pz_arena *arena, uint8_t **out,
                    size_t *len, char *err, size_t errlen)
{
    return pz_evrec_render_body(in, NULL, ns, headers, n_headers, n_targets, random_key, arena, out, len, err, errlen);
}

int pz_evrec_render_body(const Personalization__V1__PutEventsRequest *in, const pz_events_body *raw, const char *ns,
                         const pz_header *headers, size_t n_headers, size_t n_targets, const char *random_key,
                         pz_arena *arena, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    const char *pk = in->session_id != NULL && in->session_id[0] ? in->session_id
                     : in->user_id != NULL && in->user_id[0]     ? in->user_id
                                                                 : random_key;
    size_t ns_len = clamp16(ns), pk_len = clamp16(pk), s_len = clamp16(in->session_id), u_len = clamp16(in->user_id);
    size_t head = HEADER_FIXED + 4 * n_targets + HEADER_LENGTHS + ns_len + pk_len + s_len + u_len;
    if (n_targets > PZ_EVREC_MAX_TARGETS) {
        snprintf(err, errlen, "the namespace has %zu event targets; at most %d are supported", n_targets,
                 PZ_EVREC_MAX_TARGETS);
        return -1;
    }
    pz_buf b;
    pz_buf_init(&b, PZ_EVREC_MAX_BYTES > head ? PZ_EVREC_MAX_BYTES - head : 0);
    int rc = write_envelope(&b, in, raw, ns, headers, n_headers);
    if (rc != 0) {
        pz_buf_free(&b);
        snprintf(err, errlen,
                 "the events and request headers are too large to deliver: a stored call is limited to %d bytes "
                 "(envelope included)",
                 PZ_EVREC_MAX_BYTES);
        return -1;
    }
    uint8_t *r = pz_arena_alloc(arena, head + b.len);
    r[0] = RECORD_VERSION;
    size_t n_events = raw != NULL ? raw->n_events : in->n_event_list;
    if (n_events > UINT16_MAX)
        n_events = UINT16_MAX; /* a forwarded body's count only paces batches */
    r[1] = n_events > 0 ? PZ_EVREC_FLAG_EVENTS : 0;
    put_u16(r + 2, (uint16_t)n_targets);
    memset(r + 4, 0, 4 * n_targets);
    uint8_t *p = r + 4 + 4 * n_targets;
    put_u16(p, (uint16_t)ns_len);
    put_u16(p + 2, (uint16_t)pk_len);
    put_u16(p + 4, (uint16_t)s_len);
    put_u16(p + 6, (uint16_t)u_len);
    put_u16(p + 8, (uint16_t)n_events);
    p += HEADER_LENGTHS;
    memcpy(p, ns, ns_len);
    p += ns_len;
    memcpy(p, pk, pk_len);
    p += pk_len;
    if (s_len)
        memcpy(p, in->session_id, s_len);
    p += s_len;
    if (u_len)
        memcpy(p, in->user_id, u_len);
    p += u_len;
    memcpy(p, b.data, b.len);
    *out = r;
    *len = head + b.len;
    pz_buf_free(&b);
    return 0;
}

/* ---- experiment records ---- */

/* Sets the dotted path (a.b.c) in obj to value, creating objects on the way (an existing non-object
 * on the way is replaced). Takes value's reference. */
static void set_path(json_t *obj, const char *path, json_t *value)
{
    const char *dot = strchr(path, '.');
    if (dot == NULL) {
        json_object_set_new(obj, path, value);
        return;
    }
    char *head = pz_strndup(path, (size_t)(dot - path));
    json_t *child = json_object_get(obj, head);
    if (!json_is_object(child)) {
        child = json_object();
        json_object_set_new(obj, head, child);
    }
    free(head);
    set_path(child, dot + 1, value);
}

/* The Evidently-style data of a metric: entityIdKey -> the user, valueKey -> the value. */
static int write_data(pz_buf *b, const pz_experiment_record *x, double value)
{
    json_t *data = json_object();
    set_path(data, x->entity_id_key, json_string(x->user_id));
    set_path(data, x->value_key, json_real(value));
    char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(data);
    if (text == NULL)
        return -1;
    int rc = pz_buf_append_str(b, text);
    free(text);
    return rc;
}

static int write_experiment(pz_buf *b, const pz_experiment_record *x)
{
    bool first = true;
    int rc = pz_buf_append_str(b, "{\"namespace\":");
    rc |= pz_json_write_string(b, x->ns, strlen(x->ns));
    rc |= pz_buf_append_str(b, ",\"path\":");
    pz_buf path;
    pz_buf_init(&path, 8192);
    rc |= pz_buf_printf(&path, "/experiments/%s/%s/%s", x->ns, x->recommender, x->feature);
    rc |= pz_json_write_string(b, path.data, path.len);
    pz_buf_free(&path);
    rc |= pz_buf_append_str(b, ",\"headers\":{},\"queryStringParameters\":null,\"body\":{\"userId\":");
    rc |= pz_json_write_string(b, x->user_id, strlen(x->user_id));
    rc |= pz_buf_append_str(b, ",\"experimentEvent\":{");
    rc |= opt_string(b, "type", x->conversion ? "conversion" : "exposure", &first);
    rc |= opt_string(b, "recommender", x->recommender, &first);
    rc |= opt_string(b, "action", x->action, &first);
    rc |= opt_string(b, "feature", x->feature, &first);
    rc |= opt_string(b, "method", x->method, &first);
    rc |= opt_string(b, "variation", x->variation, &first);
    rc |= opt_string(b, "control", x->control, &first);
    rc |= opt_string(b, "userId", x->user_id, &first);
    rc |= key(b, "metric", &first);
    rc |= x->metric != NULL ? pz_json_write_string(b, x->metric, strlen(x->metric)) : pz_buf_append_str(b, "null");
    if (x->conversion) {
        rc |= key(b, "value", &first);
        rc |= pz_json_number(b, x->value);
    }
    rc |= key(b, "timestamp", &first);
    rc |= pz_json_number(b, (double)x->at_ms / 1000.0);
    if (x->metric != NULL && x->entity_id_key != NULL && x->value_key != NULL) {
        rc |= key(b, "data", &first);
        rc |= write_data(b, x, x->conversion ? x->value : PZ_EVREC_EXPOSURE_DATA_VALUE);
    }
    return rc | pz_buf_append_str(b, "}}}");
}

int pz_evrec_render_experiment(const pz_experiment_record *x, size_t n_targets, pz_arena *arena, uint8_t **out,
                               size_t *len, char *err, size_t errlen)
{
    size_t ns_len = clamp16(x->ns), u_len = clamp16(x->user_id);
    size_t head = HEADER_FIXED + 4 * n_targets + HEADER_LENGTHS + ns_len + 2 * u_len;
    pz_buf b;
    pz_buf_init(&b, PZ_EVREC_MAX_BYTES > head ? PZ_EVREC_MAX_BYTES - head : 0);
    if (n_targets > PZ_EVREC_MAX_TARGETS || write_experiment(&b, x) != 0) {
        pz_buf_free(&b);
        snprintf(err, errlen, "the experiment record does not fit %d bytes or %d targets", PZ_EVREC_MAX_BYTES,
                 PZ_EVREC_MAX_TARGETS);
        return -1;
    }
    uint8_t *r = pz_arena_alloc(arena, head + b.len);
    r[0] = RECORD_VERSION;
    r[1] = PZ_EVREC_FLAG_EXPERIMENT;
    put_u16(r + 2, (uint16_t)n_targets);
    memset(r + 4, 0, 4 * n_targets);
    uint8_t *p = r + 4 + 4 * n_targets;
    put_u16(p, (uint16_t)ns_len);
    put_u16(p + 2, (uint16_t)u_len); /* partition key: the user */
    put_u16(p + 4, 0);
    put_u16(p + 6, (uint16_t)u_len);
    put_u16(p + 8, 0);
    p += HEADER_LENGTHS;
    memcpy(p, x->ns, ns_len);
    p += ns_len;
    memcpy(p, x->user_id, u_len);
    p += u_len;
    memcpy(p, x->user_id, u_len);
    p += u_len;
    memcpy(p, b.data, b.len);
    *out = r;
    *len = head + b.len;
    pz_buf_free(&b);
    return 0;
}

int pz_evrec_decode(const void *data, size_t len, pz_evrec_view *v)
{
    const uint8_t *r = data;
    if (len < HEADER_FIXED || r[0] != RECORD_VERSION)
        return -1;
    v->experiment = (r[1] & PZ_EVREC_FLAG_EXPERIMENT) != 0;
    v->n_targets = get_u16(r + 2);
    size_t off = HEADER_FIXED + 4 * (size_t)v->n_targets;
    if (len < off + HEADER_LENGTHS)
        return -1;
    v->targets = r + HEADER_FIXED;
    const uint8_t *p = r + off;
    v->ns_len = get_u16(p);
    v->partition_key_len = get_u16(p + 2);
    v->session_len = get_u16(p + 4);
    v->user_len = get_u16(p + 6);
    v->n_events = get_u16(p + 8);
    off += HEADER_LENGTHS;
    size_t strings = v->ns_len + v->partition_key_len + v->session_len + v->user_len;
    if (len < off + strings)
        return -1;
    v->ns = (const char *)r + off;
    v->partition_key = v->ns + v->ns_len;
    v->session = v->partition_key + v->partition_key_len;
    v->user = v->session + v->session_len;
    v->json = v->user + v->user_len;
    v->json_len = len - off - strings;
    return 0;
}

uint32_t pz_evrec_target(const pz_evrec_view *v, size_t i)
{
    return get_u32(v->targets + 4 * i);
}

void pz_evrec_set_target(uint8_t *record, size_t i, uint32_t number)
{
    put_u32(record + HEADER_FIXED + 4 * i, number);
}

bool pz_evrec_has_target(const pz_evrec_view *v, uint32_t number)
{
    for (size_t i = 0; i < v->n_targets; i++) {
        if (pz_evrec_target(v, i) == number)
            return true;
    }
    return false;
}

uint8_t *pz_evrec_retarget(const void *data, size_t len, uint32_t number, size_t *out_len)
{
    pz_evrec_view v;
    if (pz_evrec_decode(data, len, &v) != 0)
        return NULL;
    size_t old_list = 4 * (size_t)v.n_targets;
    size_t rest = len - HEADER_FIXED - old_list;
    uint8_t *r = pz_malloc(HEADER_FIXED + 4 + rest);
    memcpy(r, data, HEADER_FIXED);
    put_u16(r + 2, 1);
    put_u32(r + HEADER_FIXED, number);
    memcpy(r + HEADER_FIXED + 4, (const uint8_t *)data + HEADER_FIXED + old_list, rest);
    *out_len = HEADER_FIXED + 4 + rest;
    return r;
}

void pz_evrec_random_key(char buf[33])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        pz_fatal("getrandom failed");
    for (int i = 0; i < 16; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

size_t pz_evrec_interactions(json_t *root, uint64_t seq, int64_t now_ms, pz_interaction **evs, size_t *n, size_t *cap)
{
    json_t *body = json_object_get(root, "body");
    json_t *list = json_object_get(body, "eventList");
    const char *user = json_string_value(json_object_get(body, "userId"));
    const char *session = json_string_value(json_object_get(body, "sessionId"));
    size_t added = json_array_size(list);
    if (*n + added > *cap) {
        *cap = *n + added > 2 * *cap ? *n + added : 2 * *cap;
        *evs = pz_realloc(*evs, (*cap ? *cap : 1) * sizeof **evs);
    }
    for (size_t j = 0; j < added; j++) {
        json_t *ev = json_array_get(list, j);
        json_t *value = json_object_get(ev, "eventValue");
        (*evs)[(*n)++] = (pz_interaction){
            .user_id = user,
            .session_id = session,
            .item_id = json_string_value(json_object_get(ev, "itemId")),
            .event_type = json_string_value(json_object_get(ev, "eventType")),
            .has_event_value = json_is_number(value),
            .event_value = json_number_value(value),
            .sent_at_ms = pz_event_time_ms(json_number_value(json_object_get(ev, "sentAt")), now_ms),
            .seq = seq,
        };
    }
    return added;
}

bool pz_evrec_experiment_event(json_t *root, uint64_t seq, pz_experiment_event *out)
{
    json_t *x = json_object_get(json_object_get(root, "body"), "experimentEvent");
    const char *type = json_string_value(json_object_get(x, "type"));
    if (type == NULL)
        return false;
    *out = (pz_experiment_event){
        .kind = strcmp(type, "conversion") == 0 ? PZ_EXPERIMENT_CONVERSION : PZ_EXPERIMENT_EXPOSURE,
        .seq = seq,
        .recommender = json_string_value(json_object_get(x, "recommender")),
        .feature = json_string_value(json_object_get(x, "feature")),
        .variation = json_string_value(json_object_get(x, "variation")),
        .user_id = json_string_value(json_object_get(x, "userId")),
        .metric = json_string_value(json_object_get(x, "metric")),
        .control = json_string_value(json_object_get(x, "control")),
        .value = json_number_value(json_object_get(x, "value")),
        .at_ms =
            pz_double_to_i64(json_number_value(json_object_get(x, "timestamp")) * 1000.0 + 0.5, 0, PZ_EPOCH_MS_MAX),
    };
    return true;
}
