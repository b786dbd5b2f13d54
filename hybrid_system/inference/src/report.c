/* report.c - what the engine prints per scored window (--misses, --all) and what it hands to the alert
 * rules (alerts.c): the entity (host/process, the source without both), template text, expected. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine_int.h"
#include "json.h"

int engine_emit(engine *e, const pending_t *p, const verdict_t *v, double tau_w, const float *row, FILE *out,
                const char *source) {
    buf_t *b = &e->out;
    b->len = 0;
    char num[64];
    session_t *s = &e->sessions[p->session];
    const char *name = e->session_names[p->session];
    snprintf(num, sizeof num, "{\"line\":%ld,\"source\":", p->line);
    if (buf_append(b, num, strlen(num)) || json_escape(b, source, strlen(source))) return -1;
    if (buf_append(b, ",\"entity\":", 10) || json_escape(b, name, strlen(name))) return -1;
    buf_t sess = {0};
    if (buf_append(&sess, name, strlen(name))) return -1;
    if (p->piece) {
        snprintf(num, sizeof num, "#%ld", p->piece);
        if (buf_append(&sess, num, strlen(num))) { buf_free(&sess); return -1; }
    }
    int bad = buf_append(b, ",\"session\":", 11) || json_escape(b, sess.data, sess.len);
    buf_free(&sess);
    if (bad) return -1;
    if (buf_append(b, ",\"group\":", 9)) return -1;
    if (s->group ? json_escape(b, s->group, strlen(s->group)) : buf_append(b, "null", 4)) return -1;
    snprintf(num, sizeof num, ",\"template\":%d,\"template_text\":", p->target);
    if (buf_append(b, num, strlen(num)) || json_escape(b, e->vocab[p->target], e->vocab_len[p->target])) return -1;
    char tail[300];
    snprintf(tail, sizeof tail, ",\"alert\":%s,\"novel\":%s,\"surprise\":%.17g,\"rank\":%ld,\"prob\":%.17g,"
             "\"threshold\":%.17g,\"expected\":[", v->hit ? "false" : "true", v->novel ? "true" : "false",
             v->surprise, v->rank, v->prob, tau_w);
    if (buf_append(b, tail, strlen(tail))) return -1;
    int top[EXPECTED];
    size_t k = e->N < EXPECTED ? e->N : EXPECTED;
    top_keys(row, e->N, k, top);
    for (size_t i = 0; i < k; i++) {
        snprintf(num, sizeof num, "%s%d", i ? "," : "", top[i]);
        if (buf_append(b, num, strlen(num))) return -1;
    }
    if (buf_append(b, "]}\n", 3)) return -1;
    return fwrite(b->data, 1, b->len, out) == b->len ? 0 : -1;
}

/* One verdict to the alert rules: entity host/process (the source without both), template text. */
int engine_feed_alert(engine *e, const pending_t *p, const verdict_t *v, const float *row, const char *source) {
    alert_pred a = {0};
    a.entity = e->pend_text.data + p->entity_at;
    a.source = source;
    a.order = p->order;
    a.line_no = p->line;
    a.has_time = p->has_time;
    a.ns = (int64_t)p->time_us * 1000; /* Python keeps microseconds (timestamp[us]) */
    a.is_miss = !v->hit;
    a.is_novel = v->novel;
    a.tmpl = p->cluster >= 0 ? e->tmpl_text[p->cluster] : "<UNSEEN>";
    if (!v->hit) {
        int top[EXPECTED];
        a.nexpected = (int)(e->N < EXPECTED ? e->N : EXPECTED);
        top_keys(row, e->N, (size_t)a.nexpected, top);
        for (int i = 0; i < a.nexpected; i++) a.expected[i] = e->vocab[top[i]];
    }
    a.raw = e->pend_text.data + p->text_at;
    a.raw_len = strlen(a.raw);
    a.score = v->surprise;
    return alerts_add(e->rules, &a);
}

