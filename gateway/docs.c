#include "gateway/docs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/openapi.h"
#include "server/core/json_text.h"
#include "server/core/log.h"
#include "server/core/mem.h"

/* The .proto, embedded by //gateway:docs_proto_embed (bazel/embed.bzl). */
extern const unsigned char pz_docs_proto[];
extern const size_t pz_docs_proto_len;

/* Swagger UI's page: the assets from this server only, the document from /openapi.json. */
static const char UI_PAGE[] = "<!DOCTYPE html>\n"
                              "<html lang=\"en\">\n"
                              "<head>\n"
                              "<meta charset=\"utf-8\">\n"
                              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                              "<title>API documentation</title>\n"
                              "<link rel=\"icon\" href=\"data:,\">\n" /* no /favicon.ico request */
                              "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
                              "</head>\n"
                              "<body>\n"
                              "<div id=\"swagger-ui\"></div>\n"
                              "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
                              "<script src=\"/docs/init.js\"></script>\n"
                              "</body>\n"
                              "</html>\n";
/* A separate script rather than an inline one, so a Content-Security-Policy without
 * 'unsafe-inline' (ours: script-src 'self') allows the page. */
static const char UI_INIT[] = "window.ui = SwaggerUIBundle({\n"
                              "  url: \"/openapi.json\",\n"
                              "  dom_id: \"#swagger-ui\",\n"
                              "  deepLinking: true,\n"
                              "  displayRequestDuration: true\n"
                              "});\n";
/* The page's scripts and styles come from here only; "Try it out" may call a configured server
 * elsewhere (connect-src). Swagger UI sets inline styles and data: images. */
static const char UI_CSP[] =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src *";

/* Assets change only with a new install and a restart: a day, then the ETag revalidates. */
#define ASSET_CACHE_CONTROL "public, max-age=86400"
/* The document and the .proto change with a reload or an upgrade: always revalidate (ETag). */
#define DOCUMENT_CACHE_CONTROL "no-cache"

typedef struct asset {
    const char *name; /* under /docs/ ("" is /docs itself) */
    const char *file; /* in swagger-ui-dist; NULL: ours, in `data` from the start */
    const char *content_type;
    const char *data;
    size_t len;
    char etag[PZ_ETAG_SIZE];
} asset;

struct pz_docs {
    pz_docs_options opts;
    asset assets[4];
    size_t n_assets;
    bool has_ui;
    char proto_etag[PZ_ETAG_SIZE];
    pthread_mutex_t lock; /* the kept document */
    unsigned long long generation;
    bool has_document;
    char *document; /* for `generation`; servers[0].url is the origin marker when no server URL is set */
    size_t document_len;
    size_t marker_at; /* where PZ_OPENAPI_ORIGIN_MARKER_JSON is in it; SIZE_MAX: nowhere */
    char document_etag[PZ_ETAG_SIZE];
};

static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat st;
    char *data = NULL;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && (size_t)st.st_size <= max) {
        data = pz_malloc((size_t)st.st_size + 1);
        *len = fread(data, 1, (size_t)st.st_size, f);
        if (*len != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
    } else {
        errno = EFBIG;
    }
    fclose(f);
    return data;
}

pz_docs *pz_docs_create(const pz_docs_options *opts)
{
    pz_docs *d = pz_calloc(1, sizeof *d);
    d->opts = *opts;
    pthread_mutex_init(&d->lock, NULL);
    const char *dir = opts->swagger_ui_dir != NULL ? opts->swagger_ui_dir : PZ_DOCS_DEFAULT_SWAGGER_UI_DIR;
    const asset table[] = {
        {.name = "", .content_type = "text/html; charset=utf-8", .data = UI_PAGE, .len = sizeof UI_PAGE - 1},
        {.name = "init.js",
         .content_type = "text/javascript; charset=utf-8",
         .data = UI_INIT,
         .len = sizeof UI_INIT - 1},
        {.name = "swagger-ui.css", .file = "swagger-ui.css", .content_type = "text/css; charset=utf-8"},
        {.name = "swagger-ui-bundle.js",
         .file = "swagger-ui-bundle.js",
         .content_type = "text/javascript; charset=utf-8"},
    };
    d->has_ui = true;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        asset a = table[i];
        if (a.file != NULL) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, a.file);
            a.data = read_file(path, PZ_DOCS_MAX_ASSET_BYTES, &a.len);
            if (a.data == NULL) {
                pz_warn("docs: %s: %s; /docs (Swagger UI) is unavailable: install swagger-ui-dist (bazel/setup.sh) "
                        "or point --swagger-ui-dir at it",
                        path, strerror(errno));
                d->has_ui = false;
                continue;
            }
        }
        pz_etag_of(a.data, a.len, a.etag);
        d->assets[d->n_assets++] = a;
    }
    pz_etag_of(pz_docs_proto, pz_docs_proto_len, d->proto_etag);
    return d;
}

void pz_docs_destroy(pz_docs *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_assets; i++)
        if (d->assets[i].file != NULL)
            free((char *)d->assets[i].data);
    free(d->document);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

bool pz_docs_has_ui(const pz_docs *d)
{
    return d->has_ui;
}

bool pz_docs_origin_valid(const char *s)
{
    const char *sep = strstr(s, "://");
    if (sep == NULL || sep == s || sep[3] == '\0')
        return false;
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    for (const char *p = sep + 3; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-_:[]", *p) != NULL))
            return false;
    return true;
}

static void fail(pz_docs_response *out, int status, const char *code, const char *message)
{
    out->status = status;
    out->content_type = "application/json";
    out->cache_control = "no-store";
    out->etag[0] = '\0';
    pz_buf_append_str(&out->owned, "{\"type\":\"Routing\",\"code\":");
    pz_json_write_string(&out->owned, code, strlen(code));
    pz_buf_append_str(&out->owned, ",\"message\":");
    pz_json_write_string(&out->owned, message, strlen(message));
    pz_buf_append_char(&out->owned, '}');
    out->body = out->owned.data;
    out->len = out->owned.len;
}

/* A body kept by d: 304 when if_none_match matches its tag. */
static void kept(pz_docs_response *out, const char *content_type, const char *cache_control, const char *body,
                 size_t len, const char *etag, const char *if_none_match)
{
    out->content_type = content_type;
    out->cache_control = cache_control;
    memcpy(out->etag, etag, PZ_ETAG_SIZE);
    bool match = if_none_match != NULL && pz_etag_none_match(if_none_match, strlen(if_none_match), etag);
    out->status = match ? 304 : 200;
    out->body = match ? "" : body;
    out->len = match ? 0 : len;
}

/* Makes the kept document that of the current snapshot. Under d->lock. Returns 0 or -1. */
static int refresh_document(pz_docs *d)
{
    pz_config *cfg = pz_config_holder_acquire(d->opts.holder);
    unsigned long long generation = pz_config_generation(cfg);
    int rc = 0;
    if (!d->has_document || generation != d->generation) {
        pz_buf b;
        pz_buf_init(&b, PZ_DOCS_MAX_DOCUMENT_BYTES);
        const char *server = d->opts.server_url != NULL ? d->opts.server_url : PZ_OPENAPI_ORIGIN_MARKER;
        if (pz_openapi_write(cfg, server, d->opts.admin_url, &b) == 0) {
            free(d->document);
            d->document_len = b.len;
            d->document = pz_buf_take(&b, NULL);
            const char *m = d->opts.server_url != NULL ? NULL : strstr(d->document, PZ_OPENAPI_ORIGIN_MARKER_JSON);
            d->marker_at = m != NULL ? (size_t)(m - d->document) : SIZE_MAX;
            pz_etag_of(d->document, d->document_len, d->document_etag);
            d->generation = generation;
            d->has_document = true;
        } else {
            pz_error_log("docs: the OpenAPI document of configuration generation %llu exceeds %u bytes", generation,
                         PZ_DOCS_MAX_DOCUMENT_BYTES);
            rc = -1;
        }
        pz_buf_free(&b);
    }
    pz_config_unref(cfg);
    return rc;
}

static void answer_document(pz_docs *d, const char *origin, const char *if_none_match, pz_docs_response *out)
{
    pthread_mutex_lock(&d->lock);
    if (refresh_document(d) != 0) {
        pthread_mutex_unlock(&d->lock);
        fail(out, 500, "DocumentTooLarge", "the OpenAPI document exceeds the server's size limit");
        return;
    }
    if (d->marker_at == SIZE_MAX) { /* a configured server URL: the kept bytes as they are */
        pz_buf_append(&out->owned, d->document, d->document_len);
    } else {
        /* "/" (relative to where the document was fetched) when the origin cannot be told */
        const char *url = origin != NULL && pz_docs_origin_valid(origin) ? origin : "/";
        size_t marker_len = strlen(PZ_OPENAPI_ORIGIN_MARKER_JSON);
        pz_buf_append(&out->owned, d->document, d->marker_at);
        pz_json_write_string(&out->owned, url, strlen(url));
        pz_buf_append(&out->owned, d->document + d->marker_at + marker_len,
                      d->document_len - d->marker_at - marker_len);
    }
    pthread_mutex_unlock(&d->lock);
    char etag[PZ_ETAG_SIZE];
    pz_etag_of(out->owned.data, out->owned.len, etag);
    kept(out, "application/json", DOCUMENT_CACHE_CONTROL, out->owned.data, out->owned.len, etag, if_none_match);
}

void pz_docs_answer(pz_docs *d, pz_local_route route, const char *asset_name, const char *origin,
                    const char *if_none_match, pz_docs_response *out)
{
    memset(out, 0, sizeof *out);
    pz_buf_init(&out->owned, PZ_DOCS_MAX_DOCUMENT_BYTES);
    switch (route) {
    case PZ_LOCAL_OPENAPI: answer_document(d, origin, if_none_match, out); return;
    case PZ_LOCAL_PROTO:
        kept(out, "text/plain; charset=utf-8", DOCUMENT_CACHE_CONTROL, (const char *)pz_docs_proto, pz_docs_proto_len,
             d->proto_etag, if_none_match);
        return;
    case PZ_LOCAL_DOCS:
    case PZ_LOCAL_DOCS_ASSET: {
        if (!d->has_ui) {
            fail(out, 503, "DocsUnavailable",
                 "Swagger UI is not installed on this server: install the npm package swagger-ui-dist "
                 "(bazel/setup.sh does) and restart, or see /openapi.json");
            return;
        }
        const char *name = route == PZ_LOCAL_DOCS ? "" : asset_name != NULL ? asset_name : "";
        for (size_t i = 0; i < d->n_assets; i++) {
            const asset *a = &d->assets[i];
            if (strcmp(a->name, name) == 0 && (route == PZ_LOCAL_DOCS) == (a->name[0] == '\0')) {
                kept(out, a->content_type, ASSET_CACHE_CONTROL, a->data, a->len, a->etag, if_none_match);
                if (route == PZ_LOCAL_DOCS)
                    out->content_security_policy = UI_CSP;
                return;
            }
        }
        fail(out, 404, "RouteNotFound", "Not found");
        return;
    }
    default: fail(out, 404, "RouteNotFound", "Not found"); return;
    }
}

void pz_docs_response_free(pz_docs_response *r)
{
    pz_buf_free(&r->owned);
}
