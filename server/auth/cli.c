#include "server/auth/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth/digest.h"
#include "server/core/base64.h"
#include "server/core/buf.h"
#include "server/core/config.h"

/* 256 bits of randomness: far beyond guessing, and SHA-256 of it is a safe thing to store. */
#define KEY_BYTES 32
/* Keys carry a prefix so leaked ones are recognisable (secret scanners, logs). */
#define KEY_PREFIX "pzk_"
#define KEY_TEXT_MAX 64
#define KEYS_FILE_MAX (8u << 20)

typedef struct cli_options {
    const char *name, *scopes, *namespaces, *expires, *rate_limit, *keys_file;
} cli_options;

static void usage(FILE *f)
{
    fputs("Usage: personalization-server " PZ_AUTH_CLI_COMMAND " --name NAME --scopes inference[,events][,admin]\n"
          "         [--namespaces NS[,NS...] | --namespaces '*'] [--expires 2027-01-01T00:00:00Z]\n"
          "         [--rate-limit RPS[:BURST]] [--keys-file PATH]\n"
          "\n"
          "Creates an API key, prints it once (first line of stdout) and stores only its SHA-256: appended to\n"
          "the keys file (auth.apiKeysFile; a running server reloads it within a second), or, without\n"
          "--keys-file, printed as the entry to add to auth.apiKeys (second line of stdout).\n",
          f);
}

/* "a,b,c" as a JSON array of strings. */
static json_t *list(const char *csv)
{
    json_t *arr = json_array();
    const char *p = csv;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n > 0)
            json_array_append_new(arr, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return arr;
}

static json_t *rate_limit(const char *spec)
{
    char *end = NULL;
    double rps = strtod(spec, &end), burst = 0;
    if (end == spec || (*end != '\0' && *end != ':'))
        return NULL;
    if (*end == ':') {
        const char *b = end + 1;
        burst = strtod(b, &end);
        if (end == b || *end != '\0')
            return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "requestsPerSecond", json_real(rps));
    if (burst > 0)
        json_object_set_new(o, "burst", json_real(burst));
    return o;
}

/* Checks doc by the configuration's rules; prints the problems. */
static bool valid(json_t *doc, FILE *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    pz_config_problems problems;
    pz_config_problems_init(&problems);
    pz_api_key_set *set = pz_api_key_set_parse(text, strlen(text), &problems);
    for (size_t i = 0; i < problems.n; i++)
        fprintf(err, "%s: %s: %s\n", problems.items[i].is_warning ? "warning" : "error", problems.items[i].path,
                problems.items[i].message);
    pz_config_problems_free(&problems);
    pz_api_key_set_free(set);
    free(text);
    return set != NULL;
}

/* The keys file's document, or a new one when the file does not exist yet. */
static json_t *read_keys_file(const char *path, FILE *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc != NULL)
        return doc;
    if (access(path, F_OK) != 0)
        return json_pack("{s:[]}", "apiKeys");
    fprintf(err, "error: %s is not valid JSON (line %d: %s); nothing written\n", path, jerr.line, jerr.text);
    return NULL;
}

/* Writes doc next to path and renames it over: readers see the old file or the new one. */
static int write_atomically(const char *path, json_t *doc, FILE *err)
{
    size_t n = strlen(path) + sizeof ".tmp";
    char *tmp = malloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        fprintf(err, "error: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(text);
    free(tmp);
    return ok ? 0 : -1;
}

static int parse_args(int argc, char **argv, cli_options *o, FILE *err)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"scopes", required_argument, NULL, 's'},
        {"namespaces", required_argument, NULL, 'N'},
        {"expires", required_argument, NULL, 'e'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"keys-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (cli_options){.namespaces = "*"};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': o->name = optarg; break;
        case 's': o->scopes = optarg; break;
        case 'N': o->namespaces = optarg; break;
        case 'e': o->expires = optarg; break;
        case 'r': o->rate_limit = optarg; break;
        case 'f': o->keys_file = optarg; break;
        case 'h': usage(stdout); return 1;
        default: usage(err); return -1;
        }
    }
    if (optind < argc || o->name == NULL || o->scopes == NULL) {
        fprintf(err, "error: --name and --scopes are required\n");
        usage(err);
        return -1;
    }
    return 0;
}

int pz_auth_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
    cli_options o;
    int rc = parse_args(argc, argv, &o, err);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    unsigned char raw[KEY_BYTES], digest[PZ_SHA256_LEN];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        fprintf(err, "error: no randomness available\n");
        return 1;
    }
    pz_buf b64;
    pz_buf_init(&b64, KEY_TEXT_MAX);
    pz_base64url_append(&b64, raw, sizeof raw);
    char key[KEY_TEXT_MAX + sizeof KEY_PREFIX];
    snprintf(key, sizeof key, KEY_PREFIX "%.*s", (int)b64.len, b64.data);
    pz_buf_free(&b64);
    pz_sha256(key, strlen(key), digest);
    char hex[2 * PZ_SHA256_LEN + 1];
    for (size_t i = 0; i < PZ_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    json_t *entry = json_pack("{s:s, s:s, s:o, s:o}", "name", o.name, "sha256", hex, "namespaces", list(o.namespaces),
                              "scopes", list(o.scopes));
    if (o.expires != NULL)
        json_object_set_new(entry, "expires", json_string(o.expires));
    json_t *limit = o.rate_limit != NULL ? rate_limit(o.rate_limit) : NULL;
    if (o.rate_limit != NULL && limit == NULL) {
        fprintf(err, "error: --rate-limit expects RPS or RPS:BURST (numbers)\n");
        json_decref(entry);
        return 2;
    }
    if (limit != NULL)
        json_object_set_new(entry, "rateLimit", limit);

    json_t *doc = o.keys_file != NULL ? read_keys_file(o.keys_file, err) : json_pack("{s:[]}", "apiKeys");
    json_t *keys = doc != NULL ? json_object_get(doc, "apiKeys") : NULL;
    if (doc != NULL && !json_is_array(keys))
        fprintf(err, "error: %s has no \"apiKeys\" array; nothing written\n", o.keys_file);
    rc = 1;
    if (json_is_array(keys)) {
        json_array_append(keys, entry);
        if (valid(doc, err) && (o.keys_file == NULL || write_atomically(o.keys_file, doc, err) == 0)) {
            fprintf(out, "%s\n", key);
            if (o.keys_file == NULL) {
                char *text = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fprintf(out, "%s\n", text);
                free(text);
                fprintf(err,
                        "created API key '%s': the key is shown once (first line); add the entry (second line) "
                        "to auth.apiKeys\n",
                        o.name);
            } else {
                fprintf(err, "created API key '%s' in %s: the key is shown once (first line)\n", o.name, o.keys_file);
            }
            rc = 0;
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(raw, sizeof raw);
    json_decref(entry);
    json_decref(doc);
    return rc;
}
