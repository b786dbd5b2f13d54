/* test_alerts.c - unit tests of the alert rules (src/alerts.c) on hand-built prediction streams, and
 * `test_engine --alerts FILE ...`, which runs the rules over a table for tests/test_c_engine.py.
 * Linked into test_engine (its main runs test_alerts); counters and CHECK in check.h. */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "check.h"
#include "json.h"

/* ---- the alert rules (alerts.c) on hand-built prediction streams ---------------------------- */

typedef struct {
    const char *entity;
    long order;
    int has_time;
    double t;          /* seconds */
    int miss, novel;
    const char *tmpl;
} mini_pred;

static alert_engine *run_rules(long k, long n, double cs, double cn, double to, const mini_pred *p, size_t np) {
    alert_settings s = {k, n, cs, cn, to, 2};
    char err[200];
    alert_engine *a = alerts_new(&s, err, sizeof err);
    if (!a) return NULL;
    static const char *exp[3] = {"A", "B", "C"};
    for (size_t i = 0; i < np; i++) {
        alert_pred x = {0};
        x.entity = p[i].entity;
        x.source = "f.log";
        x.order = p[i].order;
        x.line_no = p[i].order + 1;
        x.has_time = p[i].has_time;
        x.ns = (int64_t)llround(p[i].t * 1e6) * 1000;
        x.is_miss = p[i].miss || p[i].novel;
        x.is_novel = p[i].novel;
        x.tmpl = p[i].tmpl ? p[i].tmpl : "T";
        x.nexpected = 2;
        for (int j = 0; j < 2; j++) x.expected[j] = exp[(j + p[i].order) % 3];
        char raw[32];
        snprintf(raw, sizeof raw, "line %ld", p[i].order);
        x.raw = raw;
        x.raw_len = strlen(raw);
        x.score = (double)p[i].order;
        if (alerts_add(a, &x)) { alerts_free(a); return NULL; }
    }
    return a;
}

/* "rows" of alert i as "0,3,4" */
static const char *rows_of(const alert_engine *a, size_t i) {
    static char out[256];
    const alert_t *al = alerts_get(a, i);
    out[0] = '\0';
    if (!al) return "none";
    for (long j = 0; j < al->nrows; j++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%ld", j ? "," : "", al->orders[j]);
    return out;
}

void test_alerts(void) {
    char err[200];
    alert_settings bad = {3, 2, 60, 60, 0, 3};
    CHECK(!alerts_new(&bad, err, sizeof err) && strstr(err, "k <= n"), "k > n refused: %s", err);
    alert_settings neg = {1, 1, -1, 60, 0, 3};
    CHECK(!alerts_new(&neg, err, sizeof err), "negative cooldown refused");

    /* K-of-N 3 of 5, no times: misses at 0 1 | hits 2 3 4 | 5 6 (window [2..6]: 2 misses) | 7 fires
     * (window [3..7]: 5 6 7); 8 hit; 9 fires (5 6 7 9 in [5..9]) and folds (gap 2 lines <= 60). */
    mini_pred k1[] = {{"h", 0, 0, 0, 1, 0, 0}, {"h", 1, 0, 0, 1, 0, 0}, {"h", 2, 0, 0, 0, 0, 0}, {"h", 3, 0, 0, 0, 0, 0},
                      {"h", 4, 0, 0, 0, 0, 0}, {"h", 5, 0, 0, 1, 0, 0}, {"h", 6, 0, 0, 1, 0, 0}, {"h", 7, 0, 0, 1, 0, 0},
                      {"h", 8, 0, 0, 0, 0, 0}, {"h", 9, 0, 0, 1, 0, 0}};
    alert_engine *a = run_rules(3, 5, 60, 60, 0, k1, 10);
    CHECK(a && alerts_count(a) == 1 && !strcmp(rows_of(a, 0), "5,6,7,9"), "K-of-N evidence: %s", a ? rows_of(a, 0) : "oom");
    CHECK(a && alerts_get(a, 0)->suppressed == 1 && alerts_firings(a) == 2, "K-of-N firings");
    CHECK(a && alerts_get(a, 0)->score == 9, "score = largest");
    CHECK(a && alerts_get(a, 0)->nsamples == 2, "samples capped at max_samples");
    alerts_free(a);
    /* exactly k misses among n: fires at the k-th; one short: never */
    mini_pred k2[] = {{"h", 0, 0, 0, 1, 0, 0}, {"h", 1, 0, 0, 0, 0, 0}, {"h", 2, 0, 0, 1, 0, 0}};
    a = run_rules(2, 3, 60, 60, 0, k2, 3);
    CHECK(a && alerts_count(a) == 1 && !strcmp(rows_of(a, 0), "0,2"), "k of n at the edge");
    alerts_free(a);
    a = run_rules(2, 2, 60, 60, 0, k2, 3);
    CHECK(a && alerts_count(a) == 0, "k of n one short");
    alerts_free(a);

    /* cooldown boundaries in seconds: 0, 60 (folded: exactly the cooldown), 120.5 (60.5 after: new) */
    mini_pred c1[] = {{"h", 0, 1, 1000, 1, 0, 0}, {"h", 1, 1, 1060, 1, 0, 0}, {"h", 2, 1, 1120.5, 1, 0, 0}};
    a = run_rules(1, 1, 60, 60, 0, c1, 3);
    CHECK(a && alerts_count(a) == 2 && !strcmp(rows_of(a, 0), "0,1") && alerts_get(a, 0)->suppressed == 1 &&
          !strcmp(rows_of(a, 1), "2"), "cooldown boundary");
    alerts_free(a);
    a = run_rules(1, 1, 0, 0, 0, c1, 3);
    CHECK(a && alerts_count(a) == 3 && alerts_suppressed(a) == 0, "cooldown 0 folds nothing");
    alerts_free(a);
    /* a storm that never pauses longer than the cooldown stays one alert (gap from the last fold) */
    mini_pred c2[] = {{"h", 0, 1, 0, 1, 0, 0}, {"h", 1, 1, 50, 1, 0, 0}, {"h", 2, 1, 100, 1, 0, 0}, {"h", 3, 1, 150, 1, 0, 0}};
    a = run_rules(1, 1, 60, 60, 0, c2, 4);
    CHECK(a && alerts_count(a) == 1 && alerts_get(a, 0)->suppressed == 3 && alerts_get(a, 0)->nrows == 4, "storm");
    alerts_free(a);
    /* different templates: different signatures, two alerts at once */
    mini_pred c3[] = {{"h", 0, 1, 0, 1, 0, "X"}, {"h", 1, 1, 1, 1, 0, "Y"}, {"h", 2, 1, 2, 1, 0, "X"}};
    a = run_rules(1, 1, 60, 60, 0, c3, 3);
    CHECK(a && alerts_count(a) == 2 && !strcmp(rows_of(a, 0), "0,2") && !strcmp(rows_of(a, 1), "1"), "signatures");
    alerts_free(a);

    /* missing times: gaps in lines (order), also when only one side has a time */
    mini_pred m1[] = {{"h", 0, 0, 0, 1, 0, 0}, {"h", 3, 1, 5, 1, 0, 0}, {"h", 7, 0, 0, 1, 0, 0}, {"h", 8, 1, 5000, 1, 0, 0}};
    a = run_rules(1, 1, 3, 3, 0, m1, 4);
    CHECK(a && alerts_count(a) == 2 && !strcmp(rows_of(a, 0), "0,3") && !strcmp(rows_of(a, 1), "7,8"),
          "gaps in lines without a time: %s | %s", a ? rows_of(a, 0) : "", a ? rows_of(a, 1) : "");
    alerts_free(a);

    /* session timeout: 2 of 2 at t=0,5 fires; t=20 is a new session (window emptied): no firing;
     * t=21 fires again, folded (16 s after the last firing), adding 20 and 21 */
    mini_pred t1[] = {{"h", 0, 1, 0, 1, 0, 0}, {"h", 1, 1, 5, 1, 0, 0}, {"h", 2, 1, 20, 1, 0, 0}, {"h", 3, 1, 21, 1, 0, 0}};
    a = run_rules(2, 2, 60, 60, 10, t1, 4);
    CHECK(a && alerts_count(a) == 1 && alerts_firings(a) == 2 && !strcmp(rows_of(a, 0), "0,1,2,3"), "timeout: %s",
          a ? rows_of(a, 0) : "");
    alerts_free(a);
    a = run_rules(2, 2, 60, 60, 0, t1, 4);
    CHECK(a && alerts_firings(a) == 3, "no timeout: the window runs on");
    alerts_free(a);
    /* exactly the timeout does not cut */
    mini_pred t2[] = {{"h", 0, 1, 0, 1, 0, 0}, {"h", 1, 1, 10, 1, 0, 0}};
    a = run_rules(2, 2, 60, 60, 10, t2, 2);
    CHECK(a && alerts_count(a) == 1, "timeout boundary");
    alerts_free(a);

    /* interleaved entities: each its own window and signatures */
    mini_pred e1[] = {{"a", 0, 0, 0, 1, 0, 0}, {"b", 1, 0, 0, 0, 0, 0}, {"a", 2, 0, 0, 0, 0, 0}, {"b", 3, 0, 0, 1, 0, 0},
                      {"a", 4, 0, 0, 1, 0, 0}, {"b", 5, 0, 0, 1, 0, 0}};
    a = run_rules(2, 3, 60, 60, 0, e1, 6);
    CHECK(a && alerts_count(a) == 2 && !strcmp(alerts_get(a, 0)->entity, "a") && !strcmp(rows_of(a, 0), "0,4") &&
          !strcmp(alerts_get(a, 1)->entity, "b") && !strcmp(rows_of(a, 1), "3,5"), "interleaved entities");
    alerts_free(a);

    /* novelty: always fires, stays out of the K-of-N window, own cooldown; expected ranked by count */
    mini_pred n1[] = {{"h", 0, 1, 0, 1, 0, 0}, {"h", 1, 1, 1, 0, 1, "<UNSEEN>"}, {"h", 2, 1, 2, 1, 0, 0},
                      {"h", 3, 1, 100, 0, 1, "<UNSEEN>"}, {"h", 4, 1, 130, 0, 1, "<UNSEEN>"}};
    a = run_rules(2, 2, 60, 40, 0, n1, 5);
    CHECK(a && alerts_count(a) == 3, "novelty count %zu", a ? alerts_count(a) : 0);
    CHECK(a && alerts_get(a, 0)->novelty && !strcmp(rows_of(a, 0), "1"), "novelty first");
    CHECK(a && !alerts_get(a, 1)->novelty && !strcmp(rows_of(a, 1), "0,2"), "novel rows skip the window");
    CHECK(a && alerts_get(a, 2)->novelty && !strcmp(rows_of(a, 2), "3,4") && alerts_get(a, 2)->suppressed == 1,
          "novelty cooldown");
    alerts_free(a);

    /* the JSON line: fields, times, ranked lists */
    mini_pred j1[] = {{"h/p", 0, 1, 1740787200.25, 1, 0, "T \"q\""}, {"h/p", 1, 1, 1740787201, 1, 0, "T \"q\""}};
    a = run_rules(1, 1, 60, 60, 0, j1, 2);
    FILE *f = tmpfile();
    char line[2048] = "";
    if (f && a && alerts_count(a) == 1 && !alert_write(alerts_get(a, 0), f)) {
        rewind(f);
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
    }
    if (f) fclose(f);
    json_value v;
    int ok = line[0] && !json_parse(line, strlen(line), &v, err, sizeof err);
    CHECK(ok, "alert JSON parses: %s", line);
    if (ok) {
        const json_value *ft = json_get(&v, "first_time"), *et = json_get(&v, "expected_templates");
        CHECK(ft && ft->type == JSON_STRING && !strcmp(ft->str, "2025-03-01T00:00:00.25Z"), "first_time %s", line);
        CHECK(et && et->len == 3 && !strcmp(et->items[0].str, "B") && !strcmp(et->items[1].str, "A"),
              "expected ranked (count, then first seen): %s", line);
        const json_value *fc = json_get(&v, "failed_count"), *sc = json_get(&v, "suppressed_count");
        CHECK(fc && fc->number == 2 && sc && sc->number == 1, "counts");
        CHECK(json_get(&v, "type") && !strcmp(json_get(&v, "type")->str, "sequence"), "type");
        json_free(&v);
    }
    alerts_free(a);
    /* an alert without expected templates or raw lines, no time, NaN score: empty lists, nulls */
    alert_settings s1 = {1, 1, 60, 60, 0, 3};
    a = alerts_new(&s1, err, sizeof err);
    alert_pred q = {0};
    q.entity = "e";
    q.is_miss = q.is_novel = 1;
    q.tmpl = "<UNSEEN>";
    q.score = NAN;
    f = tmpfile();
    line[0] = '\0';
    if (a && f && !alerts_add(a, &q) && alerts_count(a) == 1 && !alert_write(alerts_get(a, 0), f)) {
        rewind(f);
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
    }
    if (f) fclose(f);
    CHECK(strstr(line, "\"first_time\":null") && strstr(line, "\"expected_templates\":[]") &&
          strstr(line, "\"sample_raw\":[]") && strstr(line, "\"score\":null") && strstr(line, "\"source\":\"\""),
          "empty alert fields: %s", line);
    alerts_free(a);
    char t[48];
    alert_time_iso(0, t, sizeof t);
    CHECK(!strcmp(t, "1970-01-01T00:00:00Z"), "epoch %s", t);
    alert_time_iso(-1000000000LL, t, sizeof t);
    CHECK(!strcmp(t, "1969-12-31T23:59:59Z"), "before the epoch %s", t);
    alert_time_iso(951782400LL * 1000000000LL + 1000, t, sizeof t);
    CHECK(!strcmp(t, "2000-02-29T00:00:00.000001Z"), "leap day %s", t);
}

/* test_engine --alerts FILE K N COOLDOWN_SEQ COOLDOWN_NOVELTY TIMEOUT: the alert rules over a table of
 * predictions, one per line: entity TAB order TAB has_time TAB ns TAB miss TAB novel TAB template
 * (tests/test_c_engine.py compares the output with Python's run_alerts). */
int alerts_main(char **argv) {
    FILE *f = fopen(argv[2], "r");
    if (!f) { fprintf(stderr, "cannot open %s\n", argv[2]); return 2; }
    alert_settings s = {atol(argv[3]), atol(argv[4]), atof(argv[5]), atof(argv[6]), atof(argv[7]), 3};
    char err[200];
    alert_engine *a = alerts_new(&s, err, sizeof err);
    if (!a) { fprintf(stderr, "%s\n", err); fclose(f); return 2; }
    /* templates are kept by pointer: a small table of copies */
    char names[64][64];
    size_t nnames = 0;
    char line[512];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        char ent[128], tmpl[64];
        long order, ht, miss, novel;
        long long ns;
        if (sscanf(line, "%127[^\t]\t%ld\t%ld\t%lld\t%ld\t%ld\t%63[^\t\n]", ent, &order, &ht, &ns, &miss, &novel, tmpl) != 7) {
            rc = 2;
            break;
        }
        size_t t = 0;
        while (t < nnames && strcmp(names[t], tmpl)) t++;
        if (t == nnames) {
            if (nnames == 64) { rc = 2; break; }
            snprintf(names[nnames++], sizeof names[0], "%s", tmpl);
        }
        alert_pred x = {0};
        x.entity = ent;
        x.source = "s";
        x.order = order;
        x.line_no = order + 1;
        x.has_time = (int)ht;
        x.ns = ns;
        x.is_miss = (int)miss;
        x.is_novel = (int)novel;
        x.tmpl = names[t];
        x.score = NAN;
        if (alerts_add(a, &x)) rc = 2;
    }
    fclose(f);
    for (size_t i = 0; !rc && i < alerts_count(a); i++)
        if (alert_write(alerts_get(a, i), stdout)) rc = 2;
    alerts_free(a);
    return rc;
}
