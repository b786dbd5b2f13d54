/* alerts.h - the DeepLog Enhanced alert rules of anomaly_log_detector/alerts/engine.py, streaming: one
 * prediction at a time, in log order; per-entity K-of-N, sessions cut by an inactivity timeout,
 * cooldowns (repeat intervals) per signature (entity, type, template) in seconds of log time, or in
 * lines (`order`) where either prediction has no time, and evidence lists as Python builds them.
 * No global state; every allocation is checked (functions return -1 when out of memory). */
#ifndef ALOG_ALERTS_H
#define ALOG_ALERTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ALERT_EXPECTED 3

typedef struct {
    long k, n;               /* K-of-N: 1 <= k <= n */
    double cooldown_seq;     /* >= 0; 0 folds nothing */
    double cooldown_novelty; /* >= 0 */
    double session_timeout;  /* <= 0: never */
    size_t max_samples;      /* raw lines quoted per alert (3) */
} alert_settings;

/* One DeepLog verdict. The strings `tmpl` and `expected[]` must outlive the alert engine (they are
 * kept by pointer: vocabulary / template texts); `entity`, `source` and `raw` are copied as needed. */
typedef struct {
    const char *entity;      /* what the alert is about (NUL-terminated) */
    const char *source;      /* file name */
    long order;              /* 0-based parsed row: log order, and the gap in lines */
    long line_no;            /* line number in the source */
    int has_time;
    int64_t ns;              /* time, nanoseconds since the epoch (UTC) */
    int is_miss, is_novel;   /* a novel prediction should be a miss too (Python: novel -> not in top-k) */
    const char *tmpl;        /* the line's template text (signature) */
    const char *expected[ALERT_EXPECTED];
    int nexpected;           /* kept for misses only */
    const char *raw;         /* the line as read (may be NULL) */
    size_t raw_len;
    double score;            /* surprise; NaN = none */
} alert_pred;

typedef struct {
    const char *text;
    long count, first;       /* occurrences, rank of the first one */
} alert_label;

typedef struct {
    long id;                 /* 0.. in log order of the opening firing */
    char *entity, *source;
    int novelty;             /* type: 1 novelty, 0 sequence */
    long nrows, cap;
    long *orders, *lines;    /* evidence rows, in log order */
    int first_has_time, last_has_time;
    int64_t first_ns, last_ns;
    long suppressed;         /* firings folded in after the first */
    alert_label *templates, *expected;
    size_t ntemplates, nexpected, templates_cap, expected_cap;
    char **samples;          /* up to max_samples non-empty raw lines */
    size_t nsamples;
    double score;            /* largest score of the evidence (NaN when none) */
    long last_hi;            /* internal: non-novel sequence number of its last firing */
} alert_t;

typedef struct alert_engine alert_engine;

/* NULL when the settings are invalid (message in err) or out of memory. */
alert_engine *alerts_new(const alert_settings *s, char *err, size_t errn);
/* Feeds one prediction (log order). 0, or -1 when out of memory. */
int alerts_add(alert_engine *a, const alert_pred *p);
size_t alerts_count(const alert_engine *a);
const alert_t *alerts_get(const alert_engine *a, size_t i);
/* Counts as one JSON object (no newline): predictions, misses, novel, entities, sessions, firings,
 * alerts, alerts_by_type, suppressed. */
void alerts_summary(const alert_engine *a, FILE *out);
long alerts_firings(const alert_engine *a);
long alerts_suppressed(const alert_engine *a);
/* Writes alert `al` as one JSON line (the columns of deeplog_alerts.parquet; times as ISO 8601 UTC,
 * NaN score as null). 0, or -1 when out of memory or the write fails. */
int alert_write(const alert_t *al, FILE *out);
/* `ns` as ISO 8601 UTC ("2025-03-01T00:00:00Z", "...:00.250Z" with a fraction) into out (>= 40 bytes). */
void alert_time_iso(int64_t ns, char *out, size_t n);
void alerts_free(alert_engine *a);

#endif
