/* Tests for server/recommenders/history.{c,h}: JSON Lines of PutEvents bodies (and file-target
 * envelopes), Personalize interactions CSV (header-driven, quoting, CRLF), format detection, gzip
 * files, and bad lines reported with their numbers while the rest is read. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "server/core/mem.h"
#include "server/recommenders/history.h"

static pz_history *open_text(const char *text, pz_history_format f)
{
    char err[512] = "";
    pz_history *h = pz_history_memory(text, strlen(text), f, err, sizeof err);
    if (h == NULL)
        fail_msg("open: %s", err);
    return h;
}

static void next(pz_history *h, pz_history_line *line)
{
    char err[256] = "";
    if (pz_history_next(h, line, err, sizeof err) != 1)
        fail_msg("expected a line (%s)", err);
}

static void assert_end(pz_history *h)
{
    pz_history_line line;
    char err[256];
    assert_int_equal(pz_history_next(h, &line, err, sizeof err), 0);
}

static void expect_bad(pz_history *h, uint64_t number, const char *reason_part)
{
    pz_history_line line;
    next(h, &line);
    assert_int_equal(line.number, number);
    assert_int_equal(line.n, 0);
    if (line.error == NULL || strstr(line.error, reason_part) == NULL)
        fail_msg("line %llu: want an error with \"%s\", got %s", (unsigned long long)number, reason_part,
                 line.error ? line.error : "none");
}

static void test_jsonl_put_events_and_envelopes(void **state)
{
    (void)state;
    pz_history *h =
        open_text("{\"sessionId\":\"s1\",\"userId\":\"u1\",\"eventList\":["
                  "{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1700000000},"
                  "{\"eventType\":\"purchase\",\"itemId\":\"b\",\"sentAt\":1700000001.5,\"eventValue\":9.5}]}\n"
                  "\n"
                  "{\"body\":{\"sessionId\":\"s2\",\"eventList\":[{\"eventType\":\"view\",\"itemId\":\"c\","
                  "\"sentAt\":0}]},\"namespace\":\"shop\"}\n",
                  PZ_HISTORY_AUTO);
    assert_int_equal(pz_history_format_of(h), PZ_HISTORY_JSONL);
    pz_history_line line;
    next(h, &line);
    assert_int_equal(line.number, 1);
    assert_null(line.error);
    assert_int_equal(line.n, 2);
    assert_string_equal(line.events[0].user_id, "u1");
    assert_string_equal(line.events[0].session_id, "s1");
    assert_string_equal(line.events[0].item_id, "a");
    assert_string_equal(line.events[0].event_type, "click");
    assert_int_equal(line.events[0].sent_at_ms, INT64_C(1700000000000));
    assert_false(line.events[0].has_event_value);
    assert_string_equal(line.events[1].item_id, "b");
    assert_int_equal(line.events[1].sent_at_ms, INT64_C(1700000001500));
    assert_true(line.events[1].has_event_value);
    assert_true(line.events[1].event_value == 9.5);
    next(h, &line); /* blank: no events, no error */
    assert_int_equal(line.number, 2);
    assert_int_equal(line.n, 0);
    assert_null(line.error);
    next(h, &line);
    assert_int_equal(line.number, 3);
    assert_int_equal(line.n, 1);
    assert_null(line.events[0].user_id);
    assert_string_equal(line.events[0].session_id, "s2");
    assert_int_equal(line.events[0].sent_at_ms, 0);
    assert_end(h);
    pz_history_close(h);
}

static void test_jsonl_bad_lines_are_reported_and_skipped(void **state)
{
    (void)state;
    char long_id[300];
    memset(long_id, 'x', 257);
    long_id[257] = '\0';
    char text[4096];
    snprintf(text, sizeof text,
             "not json\n"
             "[1,2]\n"
             "{\"eventList\":[]}\n"
             "{\"eventList\":[{\"itemId\":\"a\",\"sentAt\":1}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"sentAt\":1}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\"}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":-1}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1700000000000}]}\n"
             "{\"userId\":\"%s\",\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1,\"eventValue\":\"x\"}]}\n"
             "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"ok\",\"sentAt\":1}]}\n",
             long_id);
    pz_history *h = open_text(text, PZ_HISTORY_JSONL);
    expect_bad(h, 1, "invalid JSON");
    expect_bad(h, 2, "PutEvents body");
    expect_bad(h, 3, "non-empty array");
    expect_bad(h, 4, "eventList[0].eventType is required");
    expect_bad(h, 5, "eventList[0].itemId is required");
    expect_bad(h, 6, "eventList[0].sentAt is required");
    expect_bad(h, 7, "epoch seconds, 0 or more");
    expect_bad(h, 8, "milliseconds?");
    expect_bad(h, 9, "userId must be a string of 1 to 256");
    expect_bad(h, 10, "eventValue must be a number");
    pz_history_line line;
    next(h, &line); /* the good line after all the bad ones */
    assert_int_equal(line.number, 11);
    assert_int_equal(line.n, 1);
    assert_string_equal(line.events[0].item_id, "ok");
    assert_end(h);
    pz_history_close(h);
}

static void test_csv_header_driven(void **state)
{
    (void)state;
    /* columns in another order, any case, extra ones ignored, quotes, CRLF */
    pz_history *h = open_text("\r\n"
                              "timestamp , Item_Id,EXTRA,user_id,EVENT_TYPE,event_value\r\n"
                              "1700000000,i1,x,u1,click,\r\n"
                              "1700000001.25,\"i,2\",\"say \"\"hi\"\"\",u2,,3.5\r\n"
                              "1700000002,i3,,u3,view,\n",
                              PZ_HISTORY_AUTO);
    assert_int_equal(pz_history_format_of(h), PZ_HISTORY_CSV);
    pz_history_line line;
    next(h, &line);
    assert_int_equal(line.number, 3);
    assert_int_equal(line.n, 1);
    assert_string_equal(line.events[0].user_id, "u1");
    assert_null(line.events[0].session_id);
    assert_string_equal(line.events[0].item_id, "i1");
    assert_string_equal(line.events[0].event_type, "click");
    assert_int_equal(line.events[0].sent_at_ms, INT64_C(1700000000000));
    assert_false(line.events[0].has_event_value);
    next(h, &line);
    assert_string_equal(line.events[0].item_id, "i,2");
    assert_null(line.events[0].event_type); /* empty: untyped */
    assert_int_equal(line.events[0].sent_at_ms, INT64_C(1700000001250));
    assert_true(line.events[0].has_event_value);
    assert_true(line.events[0].event_value == 3.5);
    next(h, &line);
    assert_int_equal(line.number, 5);
    assert_string_equal(line.events[0].event_type, "view");
    assert_end(h);
    pz_history_close(h);

    /* EVENT_TYPE and EVENT_VALUE are optional columns */
    h = open_text("USER_ID,ITEM_ID,TIMESTAMP\nu,i,5\n", PZ_HISTORY_CSV);
    next(h, &line);
    assert_int_equal(line.n, 1);
    assert_null(line.events[0].event_type);
    pz_history_close(h);
}

static void test_csv_bad_lines_and_headers(void **state)
{
    (void)state;
    pz_history *h = open_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
                              "u,i,1\n"
                              "u,i\n"
                              ",i,1,click\n"
                              "u,,1,click\n"
                              "u,i,soon,click\n"
                              "u,i,1700000000000,click\n"
                              "u,\"i,1,click\n"
                              "u,\"i\"x,1,click\n"
                              "u,i,-5,click\n"
                              "u,i,1,click\n",
                              PZ_HISTORY_CSV);
    expect_bad(h, 2, "3 fields; the header has 4");
    expect_bad(h, 3, "2 fields");
    expect_bad(h, 4, "USER_ID must be 1 to 256");
    expect_bad(h, 5, "ITEM_ID must be 1 to 256");
    expect_bad(h, 6, "TIMESTAMP is not a number");
    expect_bad(h, 7, "milliseconds?");
    expect_bad(h, 8, "unterminated quoted field");
    expect_bad(h, 9, "text after a closing quote");
    expect_bad(h, 10, "epoch seconds, 0 or more");
    pz_history_line line;
    next(h, &line);
    assert_int_equal(line.number, 11);
    assert_int_equal(line.n, 1);
    pz_history_close(h);

    char err[512];
    const char *no_time = "USER_ID,ITEM_ID,EVENT_TYPE\nu,i,click\n";
    assert_null(pz_history_memory(no_time, strlen(no_time), PZ_HISTORY_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "no TIMESTAMP column"));
    assert_non_null(strstr(err, "line 1"));
    assert_null(pz_history_memory("", 0, PZ_HISTORY_CSV, err, sizeof err));
    assert_non_null(strstr(err, "empty"));
    /* an empty file is an empty history in JSON Lines */
    h = open_text("", PZ_HISTORY_AUTO);
    assert_end(h);
    pz_history_close(h);
}

static void write_gzip(const char *path, const char *text)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(gz);
}

static void test_files_plain_and_gzip_and_names(void **state)
{
    (void)state;
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    char path[512], err[512];
    /* named .csv.gz: CSV although the text could pass for anything */
    snprintf(path, sizeof path, "%s/history-%d.csv.gz", tmp, (int)getpid());
    write_gzip(path, "USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,10\nu2,i2,20\n");
    pz_history *h = pz_history_open(path, PZ_HISTORY_AUTO, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(pz_history_format_of(h), PZ_HISTORY_CSV);
    pz_history_line line;
    next(h, &line);
    next(h, &line);
    assert_string_equal(line.events[0].item_id, "i2");
    assert_end(h);
    assert_true(pz_history_offset(h) > 0);
    pz_history_close(h);
    remove(path);
    /* .ndjson is JSON Lines */
    snprintf(path, sizeof path, "%s/history-%d.ndjson", tmp, (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1}]}\n", f);
    fclose(f);
    h = pz_history_open(path, PZ_HISTORY_AUTO, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(pz_history_format_of(h), PZ_HISTORY_JSONL);
    next(h, &line);
    assert_int_equal(line.n, 1);
    pz_history_close(h);
    remove(path);
    assert_null(pz_history_open("/nonexistent/history.csv", PZ_HISTORY_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
}

static void test_long_lines_are_bad_lines(void **state)
{
    (void)state;
    size_t n = PZ_HISTORY_MAX_LINE + 10;
    char *text = pz_malloc(n + 200);
    strcpy(text, "{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"a\",\"sentAt\":1}]}\n");
    size_t at = strlen(text);
    memset(text + at, 'x', n);
    at += n;
    strcpy(text + at, "\n{\"eventList\":[{\"eventType\":\"click\",\"itemId\":\"b\",\"sentAt\":1}]}\n");
    pz_history *h = open_text(text, PZ_HISTORY_JSONL);
    pz_history_line line;
    next(h, &line);
    assert_int_equal(line.n, 1);
    expect_bad(h, 2, "longer than");
    next(h, &line);
    assert_int_equal(line.number, 3);
    assert_string_equal(line.events[0].item_id, "b");
    pz_history_close(h);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonl_put_events_and_envelopes),
        cmocka_unit_test(test_jsonl_bad_lines_are_reported_and_skipped),
        cmocka_unit_test(test_csv_header_driven),
        cmocka_unit_test(test_csv_bad_lines_and_headers),
        cmocka_unit_test(test_files_plain_and_gzip_and_names),
        cmocka_unit_test(test_long_lines_are_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
