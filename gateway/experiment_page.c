#include "gateway/experiment_page.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "personalization/v1/personalization.pb-c.h"

/* The chart: one row per variation, the bar is the rate, the whisker its 95 % interval. */
#define CHART_WIDTH 640
#define CHART_LABEL_WIDTH 150
#define CHART_ROW_HEIGHT 34
#define CHART_PAD 24

static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;background:#f6f7f9;"
    "color:#1d2430}"
    "main{max-width:980px;margin:0 auto;padding:28px 24px 48px}"
    "h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 10px}"
    ".sub{color:#5b6576;margin:0 0 18px}.sub code{background:#e9ecf1;padding:1px 5px;border-radius:4px}"
    ".verdict{font-size:1.35rem;font-weight:600;padding:16px 20px;border-radius:10px;margin:16px 0;"
    "background:#eef1f5;border-left:6px solid #9aa5b5}"
    ".verdict.win{background:#e8f6ec;border-left-color:#2e9d55}"
    ".card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(20,30,50,.12);padding:16px 20px;margin:14px 0;"
    "overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;font-size:.92rem}"
    "th,td{text-align:right;padding:6px 7px;border-bottom:1px solid #e6e9ee;white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left}th{color:#5b6576;font-weight:600}"
    ".badge{display:inline-block;font-size:.75rem;padding:2px 8px;border-radius:999px;background:#dde3ea;"
    "margin-left:6px;vertical-align:middle}"
    ".running{background:#d7f0df;color:#1f6b3a}.removed{background:#f5e1d8;color:#8a3a16}"
    ".up{color:#1f7a43}.down{color:#b23a2c}.muted{color:#8a94a4}"
    "a{color:#2456b8;text-decoration:none}a:hover{text-decoration:underline}"
    "footer{color:#8a94a4;font-size:.8rem;margin-top:28px}";

/* The variations' colours, control first. */
static const char *const COLOURS[] = {"#7d8ba1", "#3b7dd8", "#e08a2c", "#8e5bd0", "#2e9d7f", "#d0497a"};
#define N_COLOURS (sizeof COLOURS / sizeof COLOURS[0])

static int esc(pz_buf *b, const char *s)
{
    int rc = 0;
    for (; s != NULL && *s != '\0' && rc == 0; s++) {
        switch (*s) {
        case '&': rc = pz_buf_append_str(b, "&amp;"); break;
        case '<': rc = pz_buf_append_str(b, "&lt;"); break;
        case '>': rc = pz_buf_append_str(b, "&gt;"); break;
        case '"': rc = pz_buf_append_str(b, "&quot;"); break;
        case '\'': rc = pz_buf_append_str(b, "&#39;"); break;
        default: rc = pz_buf_append_char(b, *s); break;
        }
    }
    return rc;
}

/* A path segment in a link (keys are [A-Za-z0-9._-]; anything else is percent-encoded). */
static int url_segment(pz_buf *b, const char *s)
{
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0' && rc == 0; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                     *p == '_' || *p == '.';
        rc = plain ? pz_buf_append_char(b, (char)*p) : pz_buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

static int head(pz_buf *b, const char *title)
{
    int rc = pz_buf_printf(b,
                           "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                           "<meta http-equiv=\"refresh\" content=\"%d\"><title>",
                           PZ_PAGE_REFRESH_S);
    rc |= esc(b, title);
    rc |= pz_buf_printf(b, "</title><style>%s</style></head><body><main>", STYLE);
    return rc;
}

static int foot(pz_buf *b, const char *what)
{
    return pz_buf_printf(b,
                         "<footer>%s Live: this page reloads every %d s. The same URL without "
                         "<code>Accept: text/html</code> answers JSON; gRPC: "
                         "personalization.v1.PersonalizationService.</footer></main></body></html>",
                         what, PZ_PAGE_REFRESH_S);
}

static int pct(pz_buf *b, double v, int decimals)
{
    return pz_buf_printf(b, "%.*f%%", decimals, v * 100);
}

static const char *status_class(const char *status)
{
    return status != NULL && strcmp(status, "removed") == 0 ? "removed" : "running";
}

int pz_page_experiment_list(const ProtobufCMessage *msg, pz_buf *b)
{
    const Personalization__V1__ListExperimentsResponse *l = (const void *)msg;
    const char *ns = l->n_experiments > 0 ? l->experiments[0]->namespace_ : "";
    char title[256];
    snprintf(title, sizeof title, "Experiments of %s", ns);
    int rc = head(b, l->n_experiments > 0 ? title : "Experiments");
    rc |= pz_buf_append_str(b, "<h1>A/B experiments</h1><p class=\"sub\">");
    rc |= l->n_experiments > 0 ? pz_buf_append_str(b, "namespace <code>") | esc(b, ns) | pz_buf_append_str(b, "</code>")
                               : pz_buf_append_str(b, "No experiment is configured or stored in this namespace.");
    rc |= pz_buf_append_str(b, "</p><div class=\"card\"><table><tr><th>experiment</th><th>recommender</th>"
                               "<th>variations</th><th>users exposed</th><th>verdict</th></tr>");
    for (size_t i = 0; i < l->n_experiments && rc == 0; i++) {
        const Personalization__V1__ExperimentSummary *e = l->experiments[i];
        rc |= pz_buf_append_str(b, "<tr><td><a href=\"/experiments/");
        rc |= url_segment(b, e->namespace_) | pz_buf_append_char(b, '/') | url_segment(b, e->recommender);
        rc |= pz_buf_append_char(b, '/') | url_segment(b, e->feature) | pz_buf_append_str(b, "\">");
        rc |= esc(b, e->feature) | pz_buf_append_str(b, "</a><span class=\"badge ");
        rc |= pz_buf_append_str(b, status_class(e->status)) | pz_buf_append_str(b, "\">") | esc(b, e->status);
        rc |= pz_buf_append_str(b, "</span></td><td>") | esc(b, e->recommender) | pz_buf_append_str(b, "</td><td>");
        for (size_t v = 0; v < e->n_variations; v++)
            rc |= (v > 0 ? pz_buf_append_str(b, ", ") : 0) | esc(b, e->variations[v]);
        rc |= pz_buf_printf(b, "</td><td>%lld</td><td style=\"text-align:left\">", (long long)e->users_exposed);
        rc |= esc(b, e->verdict) | pz_buf_append_str(b, "</td></tr>");
    }
    rc |= pz_buf_append_str(b, "</table></div>");
    return rc | foot(b, "");
}

/* The chart of one metric: the rates with their intervals on one scale. */
static int chart(pz_buf *b, const Personalization__V1__MetricResults *m)
{
    double top = 0;
    for (size_t i = 0; i < m->n_variations; i++)
        top = fmax(top, m->variations[i]->conversion_rate_high);
    top = top > 0 ? fmin(1.0, top * 1.15) : 0.1;
    int plot = CHART_WIDTH - CHART_LABEL_WIDTH - CHART_PAD;
    int height = (int)m->n_variations * CHART_ROW_HEIGHT + 30;
    int rc = pz_buf_printf(b,
                           "<svg class=\"chart\" role=\"img\" width=\"100%%\" viewBox=\"0 0 %d %d\" "
                           "xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\"><title>conversion rate of ",
                           CHART_WIDTH, height);
    rc |= esc(b, m->metric) | pz_buf_append_str(b, " per variation, with 95% intervals</title>");
    for (int t = 0; t <= 4; t++) { /* the scale */
        double x = CHART_LABEL_WIDTH + plot * t / 4.0;
        rc |= pz_buf_printf(b,
                            "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e7ed\"/>"
                            "<text x=\"%.1f\" y=\"%d\" fill=\"#8a94a4\" text-anchor=\"middle\">%.1f%%</text>",
                            x, x, height - 22, x, height - 6, top * 100 * t / 4.0);
    }
    for (size_t i = 0; i < m->n_variations && rc == 0; i++) {
        const Personalization__V1__VariationResult *v = m->variations[i];
        int y = 8 + (int)i * CHART_ROW_HEIGHT;
        const char *colour = COLOURS[i % N_COLOURS];
        double w = plot * v->conversion_rate / top, lo = plot * v->conversion_rate_low / top,
               hi = plot * v->conversion_rate_high / top;
        rc |= pz_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#1d2430\">", CHART_LABEL_WIDTH - 10,
                            y + 17);
        rc |= esc(b, v->variation) | pz_buf_append_str(b, v->control ? " (control)" : "");
        rc |= pz_buf_printf(b,
                            "</text><rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"20\" rx=\"3\" "
                            "fill=\"%s\" fill-opacity=\"0.85\"/>",
                            CHART_LABEL_WIDTH, y + 3, w, colour);
        if (v->has_conversion_rate) {
            double x1 = CHART_LABEL_WIDTH + lo, x2 = CHART_LABEL_WIDTH + hi;
            rc |= pz_buf_printf(b,
                                "<g class=\"interval\" stroke=\"#1d2430\" stroke-width=\"1.5\"><line x1=\"%.1f\" "
                                "y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/></g>",
                                x1, y + 13, x2, y + 13, x1, y + 7, x1, y + 19, x2, y + 7, x2, y + 19);
            rc |=
                pz_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" fill=\"#1d2430\">", fmin(x2 + 6, CHART_WIDTH - 60), y + 17);
            rc |= pct(b, v->conversion_rate, 2) | pz_buf_append_str(b, "</text>");
        } else {
            rc |= pz_buf_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"#8a94a4\">no users yet</text>",
                                CHART_LABEL_WIDTH + 6, y + 17);
        }
    }
    return rc | pz_buf_append_str(b, "</svg>");
}

static int metric_table(pz_buf *b, const Personalization__V1__MetricResults *m)
{
    int rc = pz_buf_append_str(b, "<table><tr><th>variation</th><th>users exposed</th><th>exposures</th>"
                                  "<th>conversions</th><th>converted users</th><th>conversion rate (95% interval)"
                                  "</th><th>lift</th><th>p-value</th><th>P(beats control)</th></tr>");
    for (size_t i = 0; i < m->n_variations && rc == 0; i++) {
        const Personalization__V1__VariationResult *v = m->variations[i];
        rc |= pz_buf_append_str(b, "<tr><td>") | esc(b, v->variation);
        if (v->control)
            rc |= pz_buf_append_str(b, " <span class=\"badge\">control</span>");
        if (v->removed)
            rc |= pz_buf_append_str(b, " <span class=\"badge removed\">removed</span>");
        rc |= pz_buf_printf(b, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
                            (long long)v->users_exposed, (long long)v->exposures, (long long)v->conversions,
                            (long long)v->converted_users);
        if (v->has_conversion_rate)
            rc |= pct(b, v->conversion_rate, 2) | pz_buf_append_str(b, " <span class=\"muted\">(") |
                  pct(b, v->conversion_rate_low, 2) | pz_buf_append_str(b, " – ") | pct(b, v->conversion_rate_high, 2) |
                  pz_buf_append_str(b, ")</span>");
        else
            rc |= pz_buf_append_str(b, "<span class=\"muted\">–</span>");
        rc |= pz_buf_append_str(b, "</td><td>");
        if (v->has_lift)
            rc |= pz_buf_printf(b, "<span class=\"%s\">%+.1f%%</span>", v->lift >= 0 ? "up" : "down", v->lift * 100);
        else
            rc |= pz_buf_append_str(b, "<span class=\"muted\">–</span>");
        rc |= v->has_p_value ? pz_buf_printf(b, "</td><td>%.3g", v->p_value)
                             : pz_buf_append_str(b, "</td><td><span class=\"muted\">–</span>");
        rc |= v->has_probability_to_beat_control
                  ? pz_buf_printf(b, "</td><td>%.1f%%", v->probability_to_beat_control * 100)
                  : pz_buf_append_str(b, "</td><td><span class=\"muted\">–</span>");
        rc |= pz_buf_append_str(b, "</td></tr>");
    }
    return rc | pz_buf_append_str(b, "</table>");
}

static int format_time(pz_buf *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char text[32];
    gmtime_r(&t, &tm);
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return pz_buf_append_str(b, text);
}

int pz_page_experiment_results(const ProtobufCMessage *msg, pz_buf *b)
{
    const Personalization__V1__ExperimentResults *r = (const void *)msg;
    char title[512];
    snprintf(title, sizeof title, "%s · %s · %s", r->feature ? r->feature : "", r->recommender ? r->recommender : "",
             r->namespace_ ? r->namespace_ : "");
    int rc = head(b, title);
    rc |= pz_buf_append_str(b, "<p class=\"sub\"><a href=\"/experiments/") | url_segment(b, r->namespace_) |
          pz_buf_append_str(b, "\">&larr; experiments of ") | esc(b, r->namespace_) | pz_buf_append_str(b, "</a></p>");
    rc |= pz_buf_append_str(b, "<h1>") | esc(b, r->feature) | pz_buf_append_str(b, "<span class=\"badge ") |
          pz_buf_append_str(b, status_class(r->status)) | pz_buf_append_str(b, "\">") | esc(b, r->status) |
          pz_buf_append_str(b, "</span></h1><p class=\"sub\">recommender <code>") | esc(b, r->recommender) |
          pz_buf_append_str(b, "</code>");
    if (r->action != NULL)
        rc |= pz_buf_append_str(b, " (") | esc(b, r->action) | pz_buf_append_str(b, ")");
    if (r->method != NULL)
        rc |= pz_buf_append_str(b, " · method <code>") | esc(b, r->method) | pz_buf_append_str(b, "</code>");
    rc |= pz_buf_printf(b, " · %lld users exposed", (long long)r->users_exposed);
    if (r->description != NULL)
        rc |= pz_buf_append_str(b, "<br>") | esc(b, r->description);
    rc |= pz_buf_append_str(b, "</p>");
    bool win = r->n_metrics > 0 && r->metrics[0]->winner != NULL;
    rc |= pz_buf_printf(b, "<div class=\"verdict%s\" id=\"verdict\">", win ? " win" : "") | esc(b, r->verdict) |
          pz_buf_append_str(b, "</div>");
    for (size_t i = 0; i < r->n_metrics && rc == 0; i++) {
        const Personalization__V1__MetricResults *m = r->metrics[i];
        rc |= pz_buf_append_str(b, "<h2>metric <code>") | esc(b, m->metric) | pz_buf_append_str(b, "</code>");
        if (!m->track_exposures)
            rc |= pz_buf_append_str(b, " <span class=\"badge\">exposures not tracked</span>");
        rc |= pz_buf_append_str(b, "</h2><div class=\"card\">");
        if (i > 0)
            rc |= pz_buf_append_str(b, "<p>") | esc(b, m->verdict) | pz_buf_append_str(b, "</p>");
        rc |= chart(b, m) | metric_table(b, m) | pz_buf_append_str(b, "</div>");
    }
    rc |= pz_buf_append_str(b, "<h2>split</h2><div class=\"card\"><table><tr><th>variation</th><th>configured "
                               "share</th><th>users exposed</th></tr>");
    for (size_t i = 0; i < r->n_variations && rc == 0; i++) {
        const Personalization__V1__VariationResult *v = r->variations[i];
        rc |= pz_buf_append_str(b, "<tr><td>") | esc(b, v->variation) | pz_buf_append_str(b, "</td><td>");
        rc |= v->has_weight ? pct(b, v->weight, 1) : pz_buf_append_str(b, "<span class=\"muted\">removed</span>");
        rc |= pz_buf_printf(b, "</td><td>%lld</td></tr>", (long long)v->users_exposed);
    }
    rc |= pz_buf_append_str(b, "</table>");
    if (r->salt != NULL)
        rc |= pz_buf_append_str(b, "<p class=\"muted\">") | esc(b, r->salt) | pz_buf_append_str(b, "</p>");
    rc |= pz_buf_append_str(b, "</div>");
    pz_buf when;
    pz_buf_init(&when, 256);
    if (r->has_first_event_ms) {
        pz_buf_append_str(&when, "Counted from ");
        format_time(&when, r->first_event_ms);
        pz_buf_append_str(&when, " to ");
        format_time(&when, r->last_event_ms);
        pz_buf_append_str(&when, ".");
    } else {
        pz_buf_append_str(&when, "Nothing counted yet.");
    }
    rc |= foot(b, when.data);
    pz_buf_free(&when);
    return rc;
}
