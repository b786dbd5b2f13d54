/* engine_int.h - the engine's state, shared by engine.c (loading, the line loop) and report.c (what
 * is printed: verdict lines, the alert rules' inputs). Private to src/. */
#ifndef ALOG_ENGINE_INT_H
#define ALOG_ENGINE_INT_H

#include <stdint.h>
#include <stdio.h>

#include "alerts.h"
#include "bundle.h"
#include "engine.h"
#include "hmap.h"
#include "header.h"
#include "mask.h"
#include "match.h"
#include "scorer.h"
#include "text.h"

#define PAD 0
#define UNK 1
#define MAX_LINE_BYTES (64 * 1024)
#define MAX_JSON (1u << 30)
#define MAX_ONNX ((size_t)4 << 30)
#define EXPECTED 3
#define MASK_CACHE 200000

typedef enum { BY_NONE, BY_ENTITY, BY_HOST, BY_PROCESS } session_by_t;

typedef struct {
    int32_t *window;   /* the last L keys (PAD-padded) */
    int has_time;
    double last_time;
    long piece;        /* gap cuts so far: the session name gets "#piece" */
    char *group;       /* the first process seen, or NULL */
} session_t;

typedef struct {
    long line, order;  /* line number; parsed row (non-blank lines so far) */
    long session;      /* index into sessions */
    long piece;
    int target, cluster; /* vocab index; template (cluster position, -1 unmatched) */
    int has_time;
    double time;
    long long time_us; /* exact microseconds (alert rules) */
    size_t text_at, entity_at; /* the line and its alert entity in pend_text */
    long slot;         /* cache row */
    int32_t *window;
} pending_t;

struct engine {
    engine_opts o;
    manifest_t files;   /* metadata.json `files`: every read is checked against it */
    size_t L, N;
    char **vocab;
    size_t *vocab_len;
    hmap vocab_index;
    matcher *match;
    masker *mask;
    header_parser *head;
    scorer *sc;
    rule_t rule;
    double tau, gap;
    int has_gap;
    char **tmpl_text;   /* cluster position -> template text and vocab index */
    int *tmpl_key;
    size_t ntmpl;
    alert_engine *rules;  /* infer's alert rules */
    size_t ngroups;
    char **group_names;
    double *group_tau;
    unsigned char *seen_key;
    int32_t *pairs;
    size_t npairs;
    session_by_t by;
    /* run state */
    hmap masked_cache, session_index, window_cache;
    session_t *sessions;
    char **session_names;
    size_t nsessions, session_cap;
    float *rows;            /* cache rows: cache_cap x N */
    size_t cache_cap;
    pending_t *pending;
    size_t npending;
    int32_t *pending_windows;
    int64_t *input;
    float *output;
    long *batch_slots;
    buf_t line, text, masked, key, out, pend_text;
    /* counts */
    long lines, blank, alerts, windows, scored, calls, unseen;
};

/* One JSON line for a scored window (--misses / --all). 0, or -1 when out of memory or on a write error. */
int engine_emit(engine *e, const pending_t *p, const verdict_t *v, double tau_w, const float *row, FILE *out,
                const char *source);
/* The window's verdict to the alert rules. 0, or -1 when out of memory. */
int engine_feed_alert(engine *e, const pending_t *p, const verdict_t *v, const float *row, const char *source);

#endif
