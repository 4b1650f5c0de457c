#include "server/auth/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/auth/digest.h"
#include "server/auth/jwks_source.h"
#include "server/auth/jwt.h"
#include "server/auth/keys_file.h"
#include "server/auth/rate_limit.h"
#include "server/auth/token_cache.h"
#include "server/core/access.h"
#include "server/core/buf.h"
#include "server/core/clock.h"
#include "server/core/json_text.h"
#include "server/core/log.h"
#include "server/upstream/upstream.h"

/* Sources one process registers: a configuration names a handful. Past this, a policy's source is
 * refused (logged) rather than letting reloads grow memory without bound. */
#define MAX_SOURCES 64
/* A limit's key: the policy, a kind byte and an address, a key name or a subject; longer ones are
 * cut. */
#define LIMIT_KEY_MAX 512
#define MS_PER_SEC 1000
/* The engine for JWKS URLs: a fetch now and then, never many at once. */
#define JWKS_MAX_INFLIGHT 4
#define JWKS_MAX_QUEUED 64

typedef enum counter {
    C_KEY_ACCEPTED,
    C_KEY_REFUSED,
    C_TOKEN_CACHE_HITS,
    C_TOKEN_VERIFIED,
    C_TOKEN_REFUSED,
    C_JWKS_WAITS,
    C_THROTTLED_ADDRESS,
    C_THROTTLED_KEY,
    C_THROTTLED_SUBJECT,
    C__COUNT
} counter;

static const char *const COUNTER_NAMES[C__COUNT] = {
    "apiKeysAccepted", "apiKeysRefused",     "tokenCacheHits",    "tokensVerified",     "tokensRefused",
    "jwksWaits",       "throttledByAddress", "throttledByApiKey", "throttledBySubject",
};

struct pz_auth {
    pz_upstream *upstream;
    pz_token_cache *tokens;
    pz_rate_limiter *by_address, *by_key, *by_subject;
    atomic_ulong counters[C__COUNT];

    /* The registries only grow: readers scan the first n (an acquire load) without the lock;
     * writers add under it and publish n with a release store. */
    pthread_mutex_t sources_lock;
    pz_jwks_source *jwks[MAX_SOURCES];
    atomic_size_t n_jwks;
    pz_keys_file *keys_files[MAX_SOURCES];
    atomic_size_t n_keys_files;

    pz_config_holder *config;
    unsigned long long prepared_generation;
    int poll_ms;
    pthread_t watcher;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    bool stopping;
};

static void count(pz_auth *a, counter c)
{
    atomic_fetch_add_explicit(&a->counters[c], 1, memory_order_relaxed);
}

static void fail(pz_auth_call *call, pz_status status, const char *type, const char *code, const char *message)
{
    pz_error err = {status, type, code, message};
    call->done(call, &err);
}

/* ---- sources ---- */

static void url_fetched(void *ctx, const pz_upstream_response *res)
{
    pz_jwks_source *src = ctx;
    if (res->outcome == PZ_UPSTREAM_RESPONSE && res->status == 200) {
        pz_jwks_source_fetched(src, res->body, res->body_len, NULL, pz_now_ms());
        return;
    }
    char why[160];
    if (res->outcome == PZ_UPSTREAM_RESPONSE)
        snprintf(why, sizeof why, "HTTP status %ld", res->status);
    else
        snprintf(why, sizeof why, "%s", res->detail[0] != '\0' ? res->detail : "no answer");
    pz_jwks_source_fetched(src, NULL, 0, why, pz_now_ms());
}

static void fetch_url(void *ctx, pz_jwks_source *src, const char *url)
{
    pz_auth *a = ctx;
    static const char *const headers[] = {"Accept: application/json"};
    pz_upstream_request req = {.method = "GET",
                               .url = url,
                               .headers = headers,
                               .n_headers = 1,
                               .deadline_ms = pz_now_ms() + PZ_JWKS_FETCH_TIMEOUT_MS,
                               /* no engine retries: the source's refresh policy is the retry policy */
                               .idempotent = false,
                               .max_response_bytes = PZ_JWKS_MAX_BYTES + 1};
    pz_upstream_submit(a->upstream, &req, url_fetched, src);
}

/* A JWKS file is small and read at most once per jwksMinRefreshSeconds. */
static void fetch_file(void *ctx, pz_jwks_source *src, const char *path)
{
    (void)ctx;
    pz_buf buf;
    pz_buf_init(&buf, PZ_JWKS_MAX_BYTES + 1);
    FILE *f = fopen(path, "rb");
    char chunk[8192], why[160] = "";
    size_t n;
    if (f == NULL) {
        snprintf(why, sizeof why, "cannot open: %s", strerror(errno));
    } else {
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && why[0] == '\0')
            if (pz_buf_append(&buf, chunk, n) != 0)
                snprintf(why, sizeof why, "larger than %u bytes", PZ_JWKS_MAX_BYTES);
        fclose(f);
    }
    pz_jwks_source_fetched(src, why[0] == '\0' ? (buf.data != NULL ? buf.data : "") : NULL, buf.len,
                           why[0] != '\0' ? why : NULL, pz_now_ms());
    pz_buf_free(&buf);
}

static pz_jwks_source *find_jwks(pz_auth *a, const char *location)
{
    size_t n = atomic_load_explicit(&a->n_jwks, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(pz_jwks_source_location(a->jwks[i]), location) == 0)
            return a->jwks[i];
    return NULL;
}

/* The source of a JWT policy, registered on first use; NULL past MAX_SOURCES. */
static pz_jwks_source *jwks_source_of(pz_auth *a, const pz_jwt_policy *jwt)
{
    const char *location = jwt->jwks_url != NULL ? jwt->jwks_url : jwt->jwks_file;
    pz_jwks_source *found = find_jwks(a, location);
    if (found != NULL)
        return found;
    pthread_mutex_lock(&a->sources_lock);
    found = find_jwks(a, location); /* another thread may have added it meanwhile */
    size_t n = atomic_load_explicit(&a->n_jwks, memory_order_relaxed);
    if (found == NULL && n < MAX_SOURCES) {
        found = pz_jwks_source_create(location, jwt->jwks_url != NULL ? fetch_url : fetch_file, a);
        a->jwks[n] = found;
        atomic_store_explicit(&a->n_jwks, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&a->sources_lock);
    if (found == NULL)
        pz_error_log("auth: more than %d JWKS sources; %s is not used", MAX_SOURCES, location);
    return found;
}

static pz_keys_file *find_keys_file(pz_auth *a, const char *path)
{
    size_t n = atomic_load_explicit(&a->n_keys_files, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(pz_keys_file_path(a->keys_files[i]), path) == 0)
            return a->keys_files[i];
    return NULL;
}

static pz_keys_file *keys_file_of(pz_auth *a, const char *path)
{
    pz_keys_file *found = find_keys_file(a, path);
    if (found != NULL)
        return found;
    pthread_mutex_lock(&a->sources_lock);
    found = find_keys_file(a, path);
    size_t n = atomic_load_explicit(&a->n_keys_files, memory_order_relaxed);
    if (found == NULL && n < MAX_SOURCES) {
        found = pz_keys_file_open(path); /* the first time only: read where it is first needed */
        a->keys_files[n] = found;
        atomic_store_explicit(&a->n_keys_files, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&a->sources_lock);
    if (found == NULL)
        pz_error_log("auth: more than %d API keys files; %s is not used", MAX_SOURCES, path);
    return found;
}

/* ---- rate limits ---- */

/* Takes a token from `limiter` for the policy (its fingerprint: namespaces with limits of their own
 * keep apart), the kind of limit and name (cut to LIMIT_KEY_MAX); false after answering 429. Keys are
 * bytes built with memcpy: this runs on every request. */
static bool admit(pz_auth *a, pz_auth_call *call, pz_rate_limiter *limiter, const pz_rate_limit *limit, char kind,
                  const char *name, size_t name_len, counter throttled, const char *message)
{
    if (limit->per_second <= 0)
        return true;
    char key[LIMIT_KEY_MAX];
    uint64_t policy = call->policy->fingerprint;
    memcpy(key, &policy, sizeof policy);
    key[sizeof policy] = kind;
    if (name_len > sizeof key - sizeof policy - 1)
        name_len = sizeof key - sizeof policy - 1;
    memcpy(key + sizeof policy + 1, name, name_len);
    int64_t retry_ms = 0;
    if (pz_rate_limiter_take(limiter, key, sizeof policy + 1 + name_len, limit, call->now_ms, &retry_ms))
        return true;
    count(a, throttled);
    call->retry_after_s = (int)((retry_ms + MS_PER_SEC - 1) / MS_PER_SEC);
    fail(call, PZ_RESOURCE_EXHAUSTED, PZ_ERRTYPE_THROTTLING, "TooManyRequests", message);
    return false;
}

/* The host part of "ip:port" or "[ip6]:port". */
static const char *address_host(const char *addr, size_t *len)
{
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        *len = end != NULL ? (size_t)(end - addr - 1) : strlen(addr);
        return addr + 1;
    }
    const char *colon = strrchr(addr, ':');
    *len = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    return addr;
}

/* ---- API keys ---- */

static void authenticate_key(pz_auth *a, pz_auth_call *call)
{
    const pz_auth_policy *p = call->policy;
    unsigned char digest[PZ_SHA256_LEN];
    pz_sha256(call->credential, call->credential_len, digest);
    const pz_api_key *key = pz_api_key_lookup(p->api_keys, p->n_api_keys, digest);
    if (key == NULL && p->api_keys_file != NULL) {
        pz_keys_file *file = keys_file_of(a, p->api_keys_file);
        pz_keys_snapshot *snap = file != NULL ? pz_keys_file_acquire(file) : NULL;
        key = snap != NULL ? pz_keys_snapshot_lookup(snap, digest) : NULL;
        if (key != NULL)
            pz_arena_defer(call->arena, pz_keys_snapshot_release, snap); /* the key outlives the call */
        else
            pz_keys_snapshot_release(snap);
    }
    if (key == NULL || (key->expires_ms != 0 && call->now_ms >= key->expires_ms)) {
        count(a, C_KEY_REFUSED);
        fail(call, PZ_UNAUTHENTICATED, PZ_ERRTYPE_AUTHENTICATION, key == NULL ? "InvalidApiKey" : "ApiKeyExpired",
             key == NULL ? "the API key is not valid" : "the API key has expired");
        return;
    }
    if (!admit(a, call, a->by_key, key->has_rate_limit ? &key->rate_limit : &p->per_api_key, 'k', key->name,
               strlen(key->name), C_THROTTLED_KEY, "too many requests with this API key; retry later"))
        return;
    count(a, C_KEY_ACCEPTED);
    call->principal = (pz_principal){.kind = PZ_PRINCIPAL_API_KEY, .name = key->name, .key = key};
    call->done(call, NULL);
}

/* ---- bearer tokens ---- */

/* A token being verified; in the call's arena. */
typedef struct token_job {
    pz_jwks_waiter waiter; /* first: the source wakes it */
    pz_auth *a;
    pz_auth_call *call;
    pz_jwt jwt;
    pz_token_key key;
} token_job;

static void accept_token(pz_auth *a, pz_auth_call *call, const pz_jwt_claims *claims)
{
    /* the policy names the issuer: its fingerprint in the key keeps subjects of two issuers apart */
    if (!admit(a, call, a->by_subject, &call->policy->per_subject, 's', claims->subject, strlen(claims->subject),
               C_THROTTLED_SUBJECT, "too many requests for this user; retry later"))
        return;
    call->principal = (pz_principal){.kind = PZ_PRINCIPAL_TOKEN,
                                     .name = claims->subject,
                                     .user_id = claims->user_id,
                                     .scopes = claims->scopes,
                                     .n_scopes = claims->n_scopes};
    call->done(call, NULL);
}

static void refuse_token(pz_auth *a, pz_auth_call *call, const pz_error *err)
{
    count(a, C_TOKEN_REFUSED);
    call->done(call, err);
}

/* Verifies the job's token with keys (which hold its kid, or not). */
static void verify_with(token_job *job, const pz_jwks *keys)
{
    pz_auth_call *call = job->call;
    const pz_jwk *key = keys != NULL ? pz_jwks_find(keys, job->jwt.kid) : NULL;
    pz_error err;
    pz_jwt_claims claims;
    if (key == NULL) {
        err = (pz_error){PZ_UNAUTHENTICATED, PZ_ERRTYPE_AUTHENTICATION, "UnknownKeyId",
                         "the token's signing key (kid) is not one of the issuer's keys"};
        refuse_token(job->a, call, &err);
        return;
    }
    if (!pz_jwt_verify_signature(&job->jwt, key, &err) ||
        !pz_jwt_check_claims(&job->jwt, call->policy->jwt, call->now_ms, call->arena, &claims, &err)) {
        refuse_token(job->a, call, &err);
        return;
    }
    count(job->a, C_TOKEN_VERIFIED);
    job->key.keys_revision = pz_jwks_revision(keys);
    pz_token_cache_put(job->a->tokens, &job->key, &claims);
    accept_token(job->a, call, &claims);
}

/* The refresh the token waited for ended. */
static void keys_ready(pz_jwks_waiter *w, pz_jwks *keys)
{
    token_job *job = (token_job *)w;
    if (keys == NULL) {
        refuse_token(job->a, job->call,
                     &(pz_error){PZ_UNAVAILABLE, PZ_ERRTYPE_AUTHENTICATION, "SigningKeysUnavailable",
                                 "the issuer's signing keys cannot be loaded; retry later"});
        return;
    }
    verify_with(job, keys);
    pz_jwks_unref(keys);
}

static void authenticate_token(pz_auth *a, pz_auth_call *call)
{
    const pz_jwt_policy *jwt = call->policy->jwt;
    if (call->credential_len > PZ_JWT_MAX_BYTES) {
        refuse_token(a, call,
                     &(pz_error){PZ_UNAUTHENTICATED, PZ_ERRTYPE_AUTHENTICATION, "TokenTooLarge",
                                 "the bearer token is larger than this server accepts"});
        return;
    }
    pz_jwks_source *src = jwks_source_of(a, jwt);
    if (src == NULL) {
        refuse_token(a, call,
                     &(pz_error){PZ_UNAVAILABLE, PZ_ERRTYPE_AUTHENTICATION, "SigningKeysUnavailable",
                                 "the issuer's signing keys cannot be loaded; retry later"});
        return;
    }
    token_job *job = pz_arena_calloc(call->arena, 1, sizeof *job);
    job->a = a;
    job->call = call;
    job->waiter.ready = keys_ready;
    pz_sha256(call->credential, call->credential_len, job->key.digest);
    job->key.policy = call->policy->fingerprint;
    job->key.keys_revision = pz_jwks_source_revision(src);
    pz_jwt_claims claims;
    if (pz_token_cache_get(a->tokens, &job->key, jwt->leeway_seconds, call->now_ms, call->arena, &claims)) {
        count(a, C_TOKEN_CACHE_HITS);
        accept_token(a, call, &claims);
        return;
    }
    pz_error err;
    if (!pz_jwt_decode(call->credential, call->credential_len, jwt->algorithms, call->arena, &job->jwt, &err)) {
        refuse_token(a, call, &err);
        return;
    }
    pz_jwks *keys = NULL;
    switch (pz_jwks_source_find(src, job->jwt.kid, call->now_ms, (int64_t)jwt->jwks_min_refresh_seconds * MS_PER_SEC,
                                (int64_t)jwt->jwks_max_age_seconds * MS_PER_SEC, &job->waiter, &keys)) {
    case PZ_JWKS_FOUND:
        verify_with(job, keys);
        pz_jwks_unref(keys);
        return;
    case PZ_JWKS_WAIT: count(a, C_JWKS_WAITS); return; /* keys_ready goes on; the job may be gone already */
    case PZ_JWKS_UNKNOWN_KID: verify_with(job, NULL); return;
    case PZ_JWKS_UNAVAILABLE: keys_ready(&job->waiter, NULL); return;
    }
}

/* ---- the port ---- */

static void authenticate(void *self, pz_auth_call *call)
{
    pz_auth *a = self;
    const pz_auth_policy *p = call->policy;
    if (call->client_addr != NULL && p->per_client_address.per_second > 0) {
        size_t len;
        const char *host = address_host(call->client_addr, &len);
        if (!admit(a, call, a->by_address, &p->per_client_address, 'a', host, len, C_THROTTLED_ADDRESS,
                   "too many requests from this address; retry later"))
            return;
    }
    switch (call->credential_kind) {
    case PZ_CREDENTIAL_NONE:
        call->principal = (pz_principal){.kind = PZ_PRINCIPAL_ANONYMOUS};
        call->done(call, NULL);
        return;
    case PZ_CREDENTIAL_API_KEY: authenticate_key(a, call); return;
    case PZ_CREDENTIAL_BEARER: authenticate_token(a, call); return;
    }
}

static void drain_port(void *self, int grace_ms)
{
    pz_auth_drain(self, grace_ms);
}

pz_authenticator pz_auth_port(pz_auth *a)
{
    return (pz_authenticator){.self = a, .authenticate = authenticate, .drain = drain_port};
}

/* ---- preparing sources, the watcher ---- */

static void prepare_policy(pz_auth *a, const pz_auth_policy *p)
{
    if (p->api_keys_file != NULL)
        keys_file_of(a, p->api_keys_file);
    if (p->jwt != NULL) {
        pz_jwks_source *src = jwks_source_of(a, p->jwt);
        if (src != NULL)
            pz_jwks_source_prefetch(src, pz_now_ms(), (int64_t)p->jwt->jwks_min_refresh_seconds * MS_PER_SEC);
    }
}

void pz_auth_prepare(pz_auth *a, const pz_config *cfg)
{
    prepare_policy(a, pz_config_auth(cfg));
    for (size_t i = 0; i < pz_config_namespace_count(cfg); i++)
        prepare_policy(a, pz_config_namespace_at(cfg, i)->auth_view);
}

static void poll_once(pz_auth *a)
{
    if (a->config != NULL) {
        pz_config *cfg = pz_config_holder_acquire(a->config);
        if (pz_config_generation(cfg) != a->prepared_generation) {
            a->prepared_generation = pz_config_generation(cfg);
            pz_auth_prepare(a, cfg);
        }
        pz_config_unref(cfg);
    }
    size_t n = atomic_load_explicit(&a->n_keys_files, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        pz_keys_file_poll(a->keys_files[i]);
}

static void *watch_main(void *arg)
{
    pz_auth *a = arg;
    pthread_mutex_lock(&a->watch_lock);
    while (!a->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += a->poll_ms / MS_PER_SEC;
        deadline.tv_nsec += (long)(a->poll_ms % MS_PER_SEC) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!a->stopping && pthread_cond_timedwait(&a->watch_cond, &a->watch_lock, &deadline) != ETIMEDOUT)
            ;
        if (a->stopping)
            break;
        pthread_mutex_unlock(&a->watch_lock);
        poll_once(a);
        pthread_mutex_lock(&a->watch_lock);
    }
    pthread_mutex_unlock(&a->watch_lock);
    return NULL;
}

/* ---- life cycle ---- */

pz_auth *pz_auth_create(const pz_auth_options *opts)
{
    pz_auth *a = pz_calloc(1, sizeof *a);
    pz_upstream_options uo;
    pz_upstream_options_default(&uo);
    uo.max_inflight = JWKS_MAX_INFLIGHT;
    uo.max_queued = JWKS_MAX_QUEUED;
    a->upstream = pz_upstream_create(&uo);
    a->tokens = pz_token_cache_create(opts->token_cache_capacity);
    a->by_address = pz_rate_limiter_create(opts->rate_limit_capacity);
    a->by_key = pz_rate_limiter_create(opts->rate_limit_capacity);
    a->by_subject = pz_rate_limiter_create(opts->rate_limit_capacity);
    for (int i = 0; i < C__COUNT; i++)
        atomic_init(&a->counters[i], 0);
    atomic_init(&a->n_jwks, 0);
    atomic_init(&a->n_keys_files, 0);
    pthread_mutex_init(&a->sources_lock, NULL);
    a->config = opts->config;
    a->poll_ms = opts->poll_ms > 0 ? opts->poll_ms : PZ_AUTH_POLL_MS_DEFAULT;
    pthread_mutex_init(&a->watch_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&a->watch_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&a->watcher, NULL, watch_main, a) != 0)
        pz_fatal("auth: cannot start the watcher thread");
    return a;
}

void pz_auth_drain(pz_auth *a, int grace_ms)
{
    pz_upstream_drain(a->upstream, grace_ms);
}

void pz_auth_destroy(pz_auth *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->watch_lock);
    a->stopping = true;
    pthread_cond_signal(&a->watch_cond);
    pthread_mutex_unlock(&a->watch_lock);
    pthread_join(a->watcher, NULL);
    pz_upstream_destroy(a->upstream); /* every fetch completed: sources may go */
    for (size_t i = 0; i < atomic_load(&a->n_jwks); i++)
        pz_jwks_source_destroy(a->jwks[i]);
    for (size_t i = 0; i < atomic_load(&a->n_keys_files); i++)
        pz_keys_file_close(a->keys_files[i]);
    pz_token_cache_destroy(a->tokens);
    pz_rate_limiter_destroy(a->by_address);
    pz_rate_limiter_destroy(a->by_key);
    pz_rate_limiter_destroy(a->by_subject);
    pthread_cond_destroy(&a->watch_cond);
    pthread_mutex_destroy(&a->watch_lock);
    pthread_mutex_destroy(&a->sources_lock);
    free(a);
}

/* A JWKS location as /admin shows it: a URL without user information or query (either could carry
 * a credential), a file path as it is. */
static void shown_location(const char *loc, char *out, size_t len)
{
    const char *scheme_end = strstr(loc, "://");
    if (scheme_end == NULL) {
        snprintf(out, len, "%s", loc);
        return;
    }
    const char *host = scheme_end + 3;
    const char *path = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(path - host));
    if (at != NULL)
        host = at + 1;
    snprintf(out, len, "%.*s%.*s%.*s", (int)(scheme_end + 3 - loc), loc, (int)(path - host), host,
             (int)strcspn(path, "?#"), path);
}

int pz_auth_stats_json(pz_auth *a, pz_buf *out)
{
    int rc = pz_buf_append_char(out, '{');
    for (int i = 0; i < C__COUNT; i++)
        rc |= pz_buf_printf(out, "\"%s\":%lu,", COUNTER_NAMES[i], atomic_load(&a->counters[i]));
    rc |= pz_buf_printf(out, "\"rememberedTokens\":%zu,\"jwks\":[", pz_token_cache_size(a->tokens));
    size_t n_jwks = atomic_load_explicit(&a->n_jwks, memory_order_acquire);
    size_t n_files = atomic_load_explicit(&a->n_keys_files, memory_order_acquire);
    for (size_t i = 0; i < n_jwks; i++) {
        pz_jwks_source_stats st;
        pz_jwks_source_get_stats(a->jwks[i], &st);
        char shown[512];
        shown_location(pz_jwks_source_location(a->jwks[i]), shown, sizeof shown);
        rc |= pz_buf_append_str(out, i > 0 ? ",{\"location\":" : "{\"location\":");
        rc |= pz_json_write_string(out, shown, strlen(shown));
        rc |= pz_buf_printf(out, ",\"keys\":%zu,\"loadedMs\":%lld,\"fetches\":%lu,\"failures\":%lu,\"waits\":%lu}",
                            st.keys, (long long)st.loaded_ms, st.fetches, st.failures, st.waits);
    }
    rc |= pz_buf_append_str(out, "],\"apiKeysFiles\":[");
    for (size_t i = 0; i < n_files; i++) {
        pz_keys_snapshot *snap = pz_keys_file_acquire(a->keys_files[i]);
        const char *path = pz_keys_file_path(a->keys_files[i]);
        rc |= pz_buf_append_str(out, i > 0 ? ",{\"path\":" : "{\"path\":");
        rc |= pz_json_write_string(out, path, strlen(path));
        rc |= pz_buf_printf(out, ",\"keys\":%zu}", pz_keys_snapshot_count(snap));
        pz_keys_snapshot_release(snap);
    }
    rc |= pz_buf_append_str(out, "]}");
    return rc != 0 ? -1 : 0;
}
