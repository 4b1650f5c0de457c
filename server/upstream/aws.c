/* AWS plumbing: credentials chain, region, endpoints and the typed signing description. The
 * contract is in aws.h; this file keeps every source's details private. */
#include "server/upstream/aws.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/core/buf.h"
#include "server/core/log.h"
#include "server/core/mem.h"

/* Temporary credentials are refreshed this long before they expire. */
#define REFRESH_AHEAD_MS (5 * 60 * 1000)
/* After a failed fetch, the refresher retries after 1 s, doubling up to this. */
#define REFRESH_RETRY_MAX_MS (60 * 1000)
/* Metadata endpoints answer locally; a slow one is as good as a missing one. */
#define FETCH_TIMEOUT_MS 2000
#define FETCH_MAX_BYTES (64 * 1024)
#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define CONTAINER_HOST "http://169.254.170.2"

typedef enum cred_source {
    SOURCE_NONE,
    SOURCE_STATIC,    /* environment or shared files: read once at create */
    SOURCE_CONTAINER, /* ECS/EKS container endpoint, refreshed in the background */
    SOURCE_IMDS,      /* EC2 instance metadata (IMDSv2), refreshed in the background */
} cred_source;

struct pz_aws {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* destroy wakes the refresher */
    cred_source source;
    bool have_creds;
    pz_aws_credentials creds;
    char profile_region[64];
    char last_error[256]; /* why the background source has no credentials yet */
    bool refresher_started;
    bool stopping;
    pthread_t refresher;
};

static const struct {
    const char *signing_name;
    const char *host_prefix;
    const char *env_suffix; /* AWS_ENDPOINT_URL_<suffix> */
} SERVICES[PZ_AWS_SERVICE__COUNT] = {
    [PZ_AWS_PERSONALIZE_RUNTIME] = {"personalize", "personalize-runtime", "PERSONALIZE_RUNTIME"},
    [PZ_AWS_PERSONALIZE_EVENTS] = {"personalize", "personalize-events", "PERSONALIZE_EVENTS"},
    [PZ_AWS_SAGEMAKER_RUNTIME] = {"sagemaker", "runtime.sagemaker", "SAGEMAKER_RUNTIME"},
    [PZ_AWS_LAMBDA] = {"lambda", "lambda", "LAMBDA"},
    [PZ_AWS_DYNAMODB] = {"dynamodb", "dynamodb", "DYNAMODB"},
    [PZ_AWS_KINESIS] = {"kinesis", "kinesis", "KINESIS"},
    [PZ_AWS_FIREHOSE] = {"firehose", "firehose", "FIREHOSE"},
    [PZ_AWS_PERSONALIZE] = {"personalize", "personalize", "PERSONALIZE"},
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Error messages are cut to fit the caller's buffer (vsnprintf: no truncation warnings). */
__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* ---- shared files (INI) ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Path of a shared file: the environment variable, else ~/.aws/<name>. Empty when unknown. */
static void shared_file_path(const char *env, const char *name, char *out, size_t cap)
{
    const char *v = env_nonempty(env);
    const char *home = getenv("HOME");
    if (v != NULL && v[0] == '~' && home != NULL)
        snprintf(out, cap, "%s%s", home, v + 1);
    else if (v != NULL)
        snprintf(out, cap, "%s", v);
    else if (home != NULL)
        snprintf(out, cap, "%s/.aws/%s", home, name);
    else
        out[0] = '\0';
}

/* Calls fn for each key = value of section `section` in the INI file at path. Missing files are
 * not an error (nothing is called). */
static void ini_section(const char *path, const char *section, void (*fn)(void *ctx, const char *k, const char *v),
                        void *ctx)
{
    if (path[0] == '\0')
        return;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[4096];
    bool inside = false;
    while (fgets(line, sizeof line, f) != NULL) {
        char *s = trim(line);
        if (s[0] == '#' || s[0] == ';' || s[0] == '\0')
            continue;
        if (s[0] == '[') {
            char *close = strchr(s, ']');
            if (close != NULL)
                *close = '\0';
            inside = strcmp(trim(s + 1), section) == 0;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!inside || eq == NULL)
            continue;
        *eq = '\0';
        fn(ctx, trim(s), trim(eq + 1));
    }
    fclose(f);
}

typedef struct file_values {
    pz_aws_credentials creds;
    char region[64];
} file_values;

static void take_value(void *ctx, const char *k, const char *v)
{
    file_values *fv = ctx;
    if (strcasecmp(k, "aws_access_key_id") == 0)
        copy_str(fv->creds.access_key_id, sizeof fv->creds.access_key_id, v);
    else if (strcasecmp(k, "aws_secret_access_key") == 0)
        copy_str(fv->creds.secret_access_key, sizeof fv->creds.secret_access_key, v);
    else if (strcasecmp(k, "aws_session_token") == 0)
        copy_str(fv->creds.session_token, sizeof fv->creds.session_token, v);
    else if (strcasecmp(k, "region") == 0)
        copy_str(fv->region, sizeof fv->region, v);
}

/* Reads the profile from the credentials file, then from the config file (which may also hold
 * keys); the credentials file wins for keys. */
static void read_shared_files(file_values *out)
{
    const char *profile = env_nonempty("AWS_PROFILE");
    if (profile == NULL)
        profile = "default";
    char path[1024], section[300];
    file_values from_config = {0};
    shared_file_path("AWS_CONFIG_FILE", "config", path, sizeof path);
    if (strcmp(profile, "default") == 0)
        ini_section(path, "default", take_value, &from_config);
    snprintf(section, sizeof section, "profile %s", profile);
    ini_section(path, section, take_value, &from_config);
    memset(out, 0, sizeof *out);
    shared_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof path);
    ini_section(path, profile, take_value, out);
    if (out->creds.access_key_id[0] == '\0' || out->creds.secret_access_key[0] == '\0')
        out->creds = from_config.creds;
    copy_str(out->region, sizeof out->region, from_config.region);
}

/* ---- background sources: container endpoint and instance metadata ---- */

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    return pz_buf_append(ctx, data, size * n) == 0 ? size * n : 0;
}

/* One small HTTP request. Returns the HTTP status (0 on a transport error, with err). */
static long fetch(const char *method, const char *url, const char *const *headers, pz_buf *out, char *err,
                  size_t errlen)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        pz_fatal("curl_easy_init failed");
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        set_err(err, errlen, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

/* "2024-05-01T12:00:00Z" -> ms since the epoch; 0 when unparsable. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm = {0};
    if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

/* Parses the credentials JSON both endpoints return. */
static int parse_credentials_json(const char *text, pz_aws_credentials *out, char *err, size_t errlen)
{
    json_t *doc = json_loads(text, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(doc, "Token"));
    if (id == NULL || secret == NULL) {
        set_err(err, errlen, "the credentials document has no AccessKeyId/SecretAccessKey");
        json_decref(doc);
        return -1;
    }
    memset(out, 0, sizeof *out);
    copy_str(out->access_key_id, sizeof out->access_key_id, id);
    copy_str(out->secret_access_key, sizeof out->secret_access_key, secret);
    copy_str(out->session_token, sizeof out->session_token, token);
    out->expires_ms = parse_iso8601(json_string_value(json_object_get(doc, "Expiration")));
    json_decref(doc);
    return 0;
}

static int fetch_container(pz_aws_credentials *out, char *err, size_t errlen)
{
    char url[2048];
    const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (full != NULL)
        copy_str(url, sizeof url, full);
    else
        snprintf(url, sizeof url, "%s%s", CONTAINER_HOST, getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    char auth[4200] = "";
    const char *token = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *token_file = env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (token_file != NULL) {
        FILE *f = fopen(token_file, "r");
        char tok[4096] = "";
        if (f != NULL) {
            size_t n = fread(tok, 1, sizeof tok - 1, f);
            tok[n] = '\0';
            fclose(f);
        }
        snprintf(auth, sizeof auth, "Authorization: %s", trim(tok));
    } else if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: %s", token);
    }
    const char *headers[] = {auth[0] ? auth : NULL, NULL};
    pz_buf body;
    pz_buf_init(&body, FETCH_MAX_BYTES);
    long status = fetch("GET", url, headers, &body, err, errlen);
    int rc = -1;
    if (status == 200)
        rc = parse_credentials_json(body.data ? body.data : "", out, err, errlen);
    else if (status != 0)
        set_err(err, errlen, "container credentials endpoint %s answered %ld", url, status);
    pz_buf_free(&body);
    return rc;
}

static int fetch_imds(pz_aws_credentials *out, char *err, size_t errlen)
{
    const char *base = env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (base == NULL)
        base = IMDS_DEFAULT_ENDPOINT;
    char url[1024], token_hdr[1200];
    pz_buf body;
    pz_buf_init(&body, FETCH_MAX_BYTES);
    int rc = -1;
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    const char *put_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    long status = fetch("PUT", url, put_headers, &body, err, errlen);
    if (status != 200) {
        if (status != 0)
            set_err(err, errlen, "instance metadata token request answered %ld", status);
        goto out;
    }
    snprintf(token_hdr, sizeof token_hdr, "X-aws-ec2-metadata-token: %s", body.data ? body.data : "");
    const char *get_headers[] = {token_hdr, NULL};
    pz_buf_clear(&body);
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    status = fetch("GET", url, get_headers, &body, err, errlen);
    if (status != 200 || body.len == 0) {
        if (status != 0)
            set_err(err, errlen, "instance metadata has no IAM role (status %ld)", status);
        goto out;
    }
    char role[256];
    copy_str(role, sizeof role, body.data);
    char *nl = strchr(role, '\n');
    if (nl != NULL)
        *nl = '\0';
    pz_buf_clear(&body);
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, trim(role));
    status = fetch("GET", url, get_headers, &body, err, errlen);
    if (status == 200)
        rc = parse_credentials_json(body.data ? body.data : "", out, err, errlen);
    else if (status != 0)
        set_err(err, errlen, "instance metadata credentials for role %s answered %ld", role, status);
out:
    pz_buf_free(&body);
    return rc;
}

static void *refresher_main(void *arg)
{
    pz_aws *aws = arg;
    int64_t retry_ms = 1000;
    pthread_mutex_lock(&aws->lock);
    while (!aws->stopping) {
        cred_source source = aws->source;
        pthread_mutex_unlock(&aws->lock);
        pz_aws_credentials c;
        char err[256] = "";
        int rc = source == SOURCE_CONTAINER ? fetch_container(&c, err, sizeof err) : fetch_imds(&c, err, sizeof err);
        pthread_mutex_lock(&aws->lock);
        int64_t wait_ms;
        if (rc == 0) {
            aws->creds = c;
            aws->have_creds = true;
            aws->last_error[0] = '\0';
            retry_ms = 1000;
            wait_ms = c.expires_ms != 0 ? c.expires_ms - REFRESH_AHEAD_MS - wall_ms() : 3600 * 1000;
            if (wait_ms < 60 * 1000)
                wait_ms = 60 * 1000;
        } else {
            copy_str(aws->last_error, sizeof aws->last_error, err);
            pz_warn("aws: cannot fetch credentials: %s (retrying in %lld ms)", err, (long long)retry_ms);
            wait_ms = retry_ms;
            retry_ms = retry_ms * 2 > REFRESH_RETRY_MAX_MS ? REFRESH_RETRY_MAX_MS : retry_ms * 2;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!aws->stopping && pthread_cond_timedwait(&aws->wake, &aws->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&aws->lock);
    return NULL;
}

/* ---- the contract ---- */

pz_aws *pz_aws_create(void)
{
    /* Before any thread of ours uses libcurl; reference-counted by libcurl. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pz_aws *aws = pz_calloc(1, sizeof *aws);
    pthread_mutex_init(&aws->lock, NULL);
    pthread_cond_init(&aws->wake, NULL);
    file_values fv;
    read_shared_files(&fv);
    copy_str(aws->profile_region, sizeof aws->profile_region, fv.region);
    const char *id = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (id != NULL && secret != NULL) {
        copy_str(aws->creds.access_key_id, sizeof aws->creds.access_key_id, id);
        copy_str(aws->creds.secret_access_key, sizeof aws->creds.secret_access_key, secret);
        copy_str(aws->creds.session_token, sizeof aws->creds.session_token, getenv("AWS_SESSION_TOKEN"));
        aws->source = SOURCE_STATIC;
    } else if (fv.creds.access_key_id[0] != '\0' && fv.creds.secret_access_key[0] != '\0') {
        aws->creds = fv.creds;
        aws->source = SOURCE_STATIC;
    } else if (env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL ||
               env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL) {
        aws->source = SOURCE_CONTAINER;
    } else {
        const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
        aws->source = disabled != NULL && strcasecmp(disabled, "true") == 0 ? SOURCE_NONE : SOURCE_IMDS;
    }
    aws->have_creds = aws->source == SOURCE_STATIC;
    return aws;
}

void pz_aws_destroy(pz_aws *aws)
{
    if (aws == NULL)
        return;
    pthread_mutex_lock(&aws->lock);
    aws->stopping = true;
    bool joined = aws->refresher_started;
    pthread_cond_broadcast(&aws->wake);
    pthread_mutex_unlock(&aws->lock);
    if (joined)
        pthread_join(aws->refresher, NULL);
    pthread_cond_destroy(&aws->wake);
    pthread_mutex_destroy(&aws->lock);
    free(aws);
    curl_global_cleanup();
}

int pz_aws_get_credentials(pz_aws *aws, pz_aws_credentials *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&aws->lock);
    int rc = 0;
    if (aws->have_creds && (aws->creds.expires_ms == 0 || aws->creds.expires_ms > wall_ms())) {
        *out = aws->creds;
    } else if (aws->source == SOURCE_NONE) {
        set_err(err, errlen,
                "no AWS credentials: tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared "
                "credentials and config files (profile %s), the container endpoint; instance "
                "metadata is disabled (AWS_EC2_METADATA_DISABLED)",
                env_nonempty("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default");
        rc = -1;
    } else {
        /* Container or instance credentials: fetched in the background, started on first need so a
         * server that never calls AWS never probes the metadata endpoints. */
        if (!aws->refresher_started && !aws->stopping) {
            if (pthread_create(&aws->refresher, NULL, refresher_main, aws) != 0)
                pz_fatal("cannot start the AWS credentials refresher thread");
            aws->refresher_started = true;
        }
        set_err(err, errlen, "no AWS credentials yet: fetching them from the %s%s%s",
                aws->source == SOURCE_CONTAINER ? "container credentials endpoint" : "instance metadata service",
                aws->last_error[0] ? "; last error: " : "", aws->last_error);
        rc = -1;
    }
    pthread_mutex_unlock(&aws->lock);
    return rc;
}

void pz_aws_region(pz_aws *aws, const char *configured, char *out, size_t outlen)
{
    const char *r = configured != NULL && configured[0] != '\0' ? configured : NULL;
    if (r == NULL)
        r = env_nonempty("AWS_REGION");
    if (r == NULL)
        r = env_nonempty("AWS_DEFAULT_REGION");
    if (r == NULL && aws != NULL && aws->profile_region[0] != '\0')
        r = aws->profile_region;
    copy_str(out, outlen, r);
}

/* Copies url without trailing slashes. */
static void endpoint_copy(char *out, size_t outlen, const char *url)
{
    copy_str(out, outlen, url);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}

void pz_aws_endpoint(pz_aws_service service, const char *region, const char *configured, char *out, size_t outlen)
{
    if (configured != NULL && configured[0] != '\0') {
        endpoint_copy(out, outlen, configured);
        return;
    }
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (ignore == NULL || strcasecmp(ignore, "true") != 0) {
        char name[96];
        snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", SERVICES[service].env_suffix);
        const char *v = env_nonempty(name);
        if (v == NULL)
            v = env_nonempty("AWS_ENDPOINT_URL");
        if (v != NULL) {
            endpoint_copy(out, outlen, v);
            return;
        }
    }
    const char *r = region != NULL && region[0] != '\0' ? region : "us-east-1";
    snprintf(out, outlen, "https://%s.%s.amazonaws.com%s", SERVICES[service].host_prefix, r,
             strncmp(r, "cn-", 3) == 0 ? ".cn" : "");
}

int pz_aws_signing_for(pz_aws *aws, pz_aws_service service, const char *region, pz_aws_signing *out, char *err,
                       size_t errlen)
{
    if (aws == NULL) {
        set_err(err, errlen, "no AWS credentials provider");
        return -1;
    }
    if (pz_aws_get_credentials(aws, &out->creds, err, errlen) != 0)
        return -1;
    copy_str(out->region, sizeof out->region, region != NULL && region[0] != '\0' ? region : "us-east-1");
    copy_str(out->service, sizeof out->service, SERVICES[service].signing_name);
    return 0;
}

int pz_aws_sign(const pz_aws_signing *s, const char *method, const char *url, const char *const *headers,
                size_t n_headers, const void *body, size_t body_len, time_t now, pz_sigv4_headers *out)
{
    pz_sigv4_request r = {
        .method = method,
        .url = url,
        .headers = headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = body_len,
        .region = s->region,
        .service = s->service,
        .access_key_id = s->creds.access_key_id,
        .secret_access_key = s->creds.secret_access_key,
        .session_token = s->creds.session_token,
        .now = now,
    };
    return pz_sigv4_sign(&r, out);
}
