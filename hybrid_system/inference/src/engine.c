/* engine.c - the bundle's export loaded (metadata.json `onnx`, vocab_c.json, rules.json, the frozen
 * templates of drain3_state.json, deeplog_seen_pairs.npz) and the detection loop: read a line, repair
 * it, split its header, mask, match, encode, append it to its session's window, and score the
 * windows in batches (distinct windows once, kept in a cache); each verdict goes to infer's alert
 * rules (alerts.c; their alerts are printed by engine_finish) or, with --misses / --all, is printed
 * as one JSON line (report.c). */
#include "engine.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "bundle.h"
#include "header.h"
#include "hmap.h"
#include "json.h"
#include "mask.h"
#include "npz.h"
#include "match.h"
#include "scorer.h"
#include "text.h"

#include "engine_int.h"

/* ---- loading ------------------------------------------------------------------------------ */

/* metadata.json (name NULL: a regular file, at most 16 MiB) or a file of the manifest, verified
 * against its recorded size and sha256 before it is parsed. */
static json_value *load_json(engine *e, const char *name, char *err, size_t errn) {
    size_t n;
    char *text;
    if (name) text = bundle_read(e->o.bundle, &e->files, name, MAX_JSON, &n, err, errn);
    else {
        char path[4096];
        snprintf(path, sizeof path, "%s/metadata.json", e->o.bundle);
        text = bundle_read_regular(path, BUNDLE_MAX_METADATA, &n, err, errn);
    }
    if (!text) return NULL;
    json_value *v = malloc(sizeof *v);
    char jerr[200];
    if (!v || json_parse(text, n, v, jerr, sizeof jerr)) {
        snprintf(err, errn, "%s/%s: %s", e->o.bundle, name ? name : "metadata.json", v ? jerr : "out of memory");
        free(v);
        free(text);
        return NULL;
    }
    free(text);
    return v;
}

static void drop_json(json_value *v) {
    if (v) json_free(v);
    free(v);
}

static int num_or_null(const json_value *v, double *out) {
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_NUMBER) return -1;
    *out = v->number;
    return 1;
}

static int load_vocab(engine *e, const json_value *v, char *err, size_t errn) {
    if (!v || v->type != JSON_OBJECT || v->len != e->N) {
        snprintf(err, errn, "vocab_c.json: expected an object of %zu entries", e->N);
        return -1;
    }
    e->vocab = calloc(e->N, sizeof(char *));
    e->vocab_len = calloc(e->N, sizeof(size_t));
    if (!e->vocab || !e->vocab_len) { snprintf(err, errn, "out of memory"); return -1; }
    for (size_t i = 0; i < v->len; i++) {
        char *end;
        long k = strtol(v->keys[i], &end, 10);
        if (*end || end == v->keys[i] || k < 0 || (size_t)k >= e->N || e->vocab[k] || v->items[i].type != JSON_STRING) {
            snprintf(err, errn, "vocab_c.json: bad or repeated key '%s'", v->keys[i]);
            return -1;
        }
        e->vocab[k] = strdup(v->items[i].str);
        if (!e->vocab[k]) { snprintf(err, errn, "out of memory"); return -1; }
        e->vocab_len[k] = v->items[i].len;
        if (k >= 3 && hmap_put(&e->vocab_index, v->items[i].str, v->items[i].len, k)) {
            snprintf(err, errn, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int load_templates(engine *e, const json_value *state, const json_value *drain, char *err, size_t errn) {
    const json_value *fmt = json_get(state, "format"), *clusters = json_get(state, "clusters");
    if (!fmt || fmt->type != JSON_STRING || strcmp(fmt->str, "alog-detect/drain-state") || !clusters ||
        clusters->type != JSON_ARRAY) {
        snprintf(err, errn, "drain3_state.json: not an alog-detect/drain-state document");
        return -1;
    }
    const json_value *dl = json_get(drain, "extra_delimiters");
    const char *delims[64];
    size_t nd = 0;
    if (dl && dl->type == JSON_ARRAY)
        for (size_t i = 0; i < dl->len && nd < 64; i++)
            if (dl->items[i].type == JSON_STRING) delims[nd++] = dl->items[i].str;
    e->match = matcher_new(delims, nd);
    e->tmpl_text = calloc(clusters->len + 1, sizeof(char *));
    e->tmpl_key = calloc(clusters->len + 1, sizeof(int));
    if (!e->match || !e->tmpl_text || !e->tmpl_key) { snprintf(err, errn, "out of memory"); return -1; }
    for (size_t i = 0; i < clusters->len; i++) {
        const json_value *id = json_get(&clusters->items[i], "id"), *t = json_get(&clusters->items[i], "template");
        if (!id || id->type != JSON_NUMBER || !t || t->type != JSON_STRING) {
            snprintf(err, errn, "drain3_state.json: cluster %zu needs an id and a template", i);
            return -1;
        }
        e->tmpl_key[i] = (int)hmap_get(&e->vocab_index, t->str, t->len, UNK);
        if (!(e->tmpl_text[i] = strdup(t->str)) || matcher_add(e->match, (long)id->number, t->str, t->len, (int)i)) {
            snprintf(err, errn, "out of memory");
            return -1;
        }
        e->ntmpl = i + 1;
    }
    if (matcher_finish(e->match)) { snprintf(err, errn, "out of memory"); return -1; }
    return 0;
}

static int load_export(engine *e, const json_value *meta, char *err, size_t errn) {
    const json_value *onnx = json_get(meta, "onnx");
    const json_value *f = json_get(onnx, "format"), *ver = json_get(onnx, "version");
    if (!f || f->type != JSON_STRING || strcmp(f->str, "alog-detect/onnx") || !ver || ver->type != JSON_NUMBER ||
        ver->number != 1) {
        snprintf(err, errn, "%s: metadata.json has no alog-detect/onnx version 1 export; run `alog-detect "
                 "convert-onnx --output-dir %s` first", e->o.bundle, e->o.bundle);
        return -1;
    }
    const json_value *d = json_get(onnx, "deeplog");
    const json_value *sl = json_get(d, "seq_len"), *vs = json_get(d, "vocab_size"), *eos = json_get(d, "eos");
    const json_value *model = json_get(d, "model"), *tau = json_get(d, "tau");
    if (!d || !sl || sl->type != JSON_NUMBER || !vs || vs->type != JSON_NUMBER || !model ||
        model->type != JSON_STRING || sl->number < 1 || sl->number > 10000 || vs->number < 3 || vs->number > 1e7) {
        snprintf(err, errn, "metadata.json: onnx.deeplog lacks seq_len / vocab_size / model");
        return -1;
    }
    if (eos && eos->type == JSON_BOOL && eos->boolean) {
        snprintf(err, errn, "onnx.deeplog.eos is true (sessions ending with EOS): not supported by the C engine");
        return -1;
    }
    e->L = (size_t)sl->number;
    e->N = (size_t)vs->number;
    double k = 0, top_p = -1, ms = 30, t = 0;
    if (num_or_null(json_get(d, "k"), &k) < 0 || num_or_null(json_get(d, "top_p"), &top_p) < 0 ||
        num_or_null(json_get(d, "max_surprise"), &ms) < 0 || num_or_null(tau, &t) < 0) {
        snprintf(err, errn, "metadata.json: onnx.deeplog k / top_p / tau must be numbers or null");
        return -1;
    }
    e->rule.k = (long)k;
    e->rule.top_p = top_p;
    e->rule.max_surprise = ms;
    e->tau = t;
    if (e->rule.k <= 0 && e->rule.top_p < 0 && (!tau || tau->type != JSON_NUMBER)) {
        snprintf(err, errn, "metadata.json: calibrated rule without onnx.deeplog.tau");
        return -1;
    }
    const json_value *g = json_get(d, "tau_by_group");
    if (g && g->type == JSON_OBJECT && g->len) {
        e->group_names = calloc(g->len, sizeof(char *));
        e->group_tau = calloc(g->len, sizeof(double));
        if (!e->group_names || !e->group_tau) { snprintf(err, errn, "out of memory"); return -1; }
        for (size_t i = 0; i < g->len; i++) {
            if (g->items[i].type != JSON_NUMBER) continue;
            e->group_names[e->ngroups] = strdup(g->keys[i]);
            if (!e->group_names[e->ngroups]) { snprintf(err, errn, "out of memory"); return -1; }
            e->group_tau[e->ngroups++] = g->items[i].number;
        }
    }
    e->seen_key = calloc(e->N, 1);
    if (!e->seen_key) { snprintf(err, errn, "out of memory"); return -1; }
    const json_value *sk = json_get(d, "seen_keys");
    if (sk && sk->type == JSON_ARRAY)
        for (size_t i = 0; i < sk->len; i++)
            if (sk->items[i].type == JSON_NUMBER && sk->items[i].number >= 0 && sk->items[i].number < (double)e->N)
                e->seen_key[(size_t)sk->items[i].number] = 1;
    e->seen_key[UNK] = 0; /* UNK is always novel */
    const json_value *sp = json_get(d, "seen_pairs");
    if (sp && sp->type == JSON_STRING) {
        if (npz_load_pairs(e->o.bundle, &e->files, sp->str, e->L, &e->pairs, &e->npairs, err, errn)) return -1;
    }
    /* sessions: params.sequences of a train bundle; a bare export holds none (one stream per source) */
    const json_value *seq = json_get(json_get(meta, "params"), "sequences");
    const json_value *by = json_get(seq, "session_by");
    e->by = BY_NONE;
    if (by && by->type == JSON_STRING) {
        if (!strcmp(by->str, "entity")) e->by = BY_ENTITY;
        else if (!strcmp(by->str, "host")) e->by = BY_HOST;
        else if (!strcmp(by->str, "process")) e->by = BY_PROCESS;
        else if (strcmp(by->str, "none")) {
            snprintf(err, errn, "session_by '%s' is not supported by the C engine (entity, host, process, none)", by->str);
            return -1;
        }
    }
    e->has_gap = num_or_null(json_get(seq, "session_gap"), &e->gap) > 0;
    /* infer's alert rules: K-of-N 1 of 1, both cooldowns = params.incidents.gap (60 s), no timeout */
    double cool = 60;
    if (num_or_null(json_get(json_get(json_get(meta, "params"), "incidents"), "gap"), &cool) < 0) cool = 60;
    alert_settings as = {1, 1, cool, cool, 0, 3};
    const alert_settings *o = &e->o.alert;
    if (o->k > 0) as.k = o->k;
    if (o->n > 0) as.n = o->n;
    if (o->cooldown_seq >= 0) as.cooldown_seq = o->cooldown_seq;
    if (o->cooldown_novelty >= 0) as.cooldown_novelty = o->cooldown_novelty;
    if (o->session_timeout > 0) as.session_timeout = o->session_timeout;
    if (!(e->rules = alerts_new(&as, err, errn))) return -1;
    size_t model_len;
    char *model_bytes = bundle_read(e->o.bundle, &e->files, model->str, MAX_ONNX, &model_len, err, errn);
    if (!model_bytes) return -1;
    /* ORT gets the verified bytes, not the path: the file cannot change between check and use */
    e->sc = scorer_new(e->o.ort_lib, model_bytes, model_len, e->o.threads, e->N, err, errn);
    free(model_bytes);
    return e->sc ? 0 : -1;
}

engine *engine_new(const engine_opts *o, char *err, size_t errn) {
    engine *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, errn, "out of memory"); return NULL; }
    e->o = *o;
    if (!e->o.batch) e->o.batch = 256;
    json_value *meta = NULL, *vocab = NULL, *rules = NULL, *state = NULL;
    int ok = 0;
    if (!(meta = load_json(e, NULL, err, errn))) goto done;
    if (manifest_load(o->bundle, meta, &e->files, err, errn)) goto done;
    if (load_export(e, meta, err, errn)) goto done;
    const json_value *onnx = json_get(meta, "onnx");
    const json_value *vf = json_get(onnx, "vocab");
    if (!(vocab = load_json(e, vf && vf->type == JSON_STRING ? vf->str : "vocab_c.json", err, errn))) goto done;
    if (load_vocab(e, vocab, err, errn)) goto done;
    if (!(rules = load_json(e, "rules.json", err, errn))) goto done;
    char merr[300];
    if (!(e->mask = masker_new(rules, merr, sizeof merr))) { snprintf(err, errn, "rules.json: %s", merr); goto done; }
    const json_value *parser = json_get(json_get(meta, "params"), "parser");
    if (!(state = load_json(e, "drain3_state.json", err, errn))) goto done;
    if (load_templates(e, state, json_get(parser, "drain"), err, errn)) goto done;
    const json_value *pf = json_get(parser, "format");
    const char *format = o->format ? o->format : pf && pf->type == JSON_STRING ? pf->str : "raw";
    if (!strcmp(format, "auto")) {
        snprintf(err, errn, "the bundle's log format is 'auto': pass --format raw|syslog");
        goto done;
    }
    if (!(e->head = header_new(format, 0, o->year, err, errn))) goto done;
    e->cache_cap = o->cache ? o->cache : 65536;
    size_t most = ((size_t)256 << 20) / (e->N * sizeof(float)); /* at most 256 MiB of cached rows */
    if (e->cache_cap > most) e->cache_cap = most;
    if (e->cache_cap < e->o.batch) e->cache_cap = e->o.batch;
    e->rows = malloc(e->cache_cap * e->N * sizeof(float));
    e->pending = calloc(e->o.batch, sizeof(pending_t));
    e->pending_windows = malloc(e->o.batch * e->L * sizeof(int32_t));
    e->input = malloc(e->o.batch * e->L * sizeof(int64_t));
    e->output = malloc(e->o.batch * e->N * sizeof(float));
    e->batch_slots = malloc(e->o.batch * sizeof(long));
    if (!e->rows || !e->pending || !e->pending_windows || !e->input || !e->output || !e->batch_slots) {
        snprintf(err, errn, "out of memory");
        goto done;
    }
    ok = 1;
done:
    drop_json(meta);
    drop_json(vocab);
    drop_json(rules);
    drop_json(state);
    if (!ok) { engine_free(e); return NULL; }
    return e;
}

void engine_free(engine *e) {
    if (!e) return;
    manifest_free(&e->files);
    for (size_t i = 0; e->vocab && i < e->N; i++) free(e->vocab[i]);
    free(e->vocab);
    free(e->vocab_len);
    hmap_free(&e->vocab_index);
    matcher_free(e->match);
    for (size_t i = 0; e->tmpl_text && i < e->ntmpl; i++) free(e->tmpl_text[i]);
    free(e->tmpl_text);
    free(e->tmpl_key);
    alerts_free(e->rules);
    masker_free(e->mask);
    header_free(e->head);
    scorer_free(e->sc);
    for (size_t i = 0; i < e->ngroups; i++) free(e->group_names[i]);
    free(e->group_names);
    free(e->group_tau);
    free(e->seen_key);
    free(e->pairs);
    hmap_free(&e->masked_cache);
    hmap_free(&e->session_index);
    hmap_free(&e->window_cache);
    for (size_t i = 0; i < e->nsessions; i++) {
        free(e->sessions[i].window);
        free(e->sessions[i].group);
        free(e->session_names[i]);
    }
    free(e->sessions);
    free(e->session_names);
    free(e->rows);
    free(e->pending);
    free(e->pending_windows);
    free(e->input);
    free(e->output);
    free(e->batch_slots);
    buf_free(&e->line);
    buf_free(&e->text);
    buf_free(&e->masked);
    buf_free(&e->key);
    buf_free(&e->out);
    buf_free(&e->pend_text);
    free(e);
}

/* ---- scoring ------------------------------------------------------------------------------ */

static int seen_pair(const engine *e, const int32_t *window, int target) {
    size_t lo = 0, hi = e->npairs, w = e->L + 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const int32_t *r = e->pairs + mid * w;
        int c = 0;
        for (size_t k = 0; k < w && !c; k++) {
            int32_t x = k < e->L ? window[k] : target;
            c = r[k] < x ? -1 : r[k] > x ? 1 : 0;
        }
        if (!c) return 1;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return 0;
}

static double window_tau(const engine *e, const char *group) {
    if (group)
        for (size_t i = 0; i < e->ngroups; i++)
            if (!strcmp(e->group_names[i], group)) return e->group_tau[i];
    return e->tau;
}

static int flush(engine *e, FILE *out, const char *source, char *err, size_t errn) {
    if (!e->npending) return 0;
    if (e->window_cache.count + e->npending > e->cache_cap) hmap_clear(&e->window_cache);
    size_t nb = 0;
    size_t wbytes = e->L * sizeof(int32_t);
    for (size_t i = 0; i < e->npending; i++) {
        pending_t *p = &e->pending[i];
        long slot = hmap_get(&e->window_cache, p->window, wbytes, -1);
        if (slot < 0) {
            slot = (long)e->window_cache.count;
            if (hmap_put(&e->window_cache, p->window, wbytes, slot)) { snprintf(err, errn, "out of memory"); return -1; }
            for (size_t k = 0; k < e->L; k++) e->input[nb * e->L + k] = p->window[k];
            e->batch_slots[nb++] = slot;
        }
        p->slot = slot;
    }
    if (nb) {
        if (scorer_run(e->sc, e->input, nb, e->L, e->output, err, errn)) return -1;
        e->calls++;
        e->scored += (long)nb;
        for (size_t b = 0; b < nb; b++)
            memcpy(e->rows + (size_t)e->batch_slots[b] * e->N, e->output + b * e->N, e->N * sizeof(float));
    }
    for (size_t i = 0; i < e->npending; i++) {
        const pending_t *p = &e->pending[i];
        const float *row = e->rows + (size_t)p->slot * e->N;
        double tau_w = window_tau(e, e->sessions[p->session].group);
        verdict_t v;
        int novel = !e->seen_key[p->target];
        verdict_compute(row, e->N, p->target, novel, e->npairs && seen_pair(e, p->window, p->target), tau_w, &e->rule, &v);
        e->windows++;
        if (!v.hit) e->alerts++;
        if (e->o.output && (!v.hit || e->o.output == OUTPUT_ALL) && engine_emit(e, p, &v, tau_w, row, out, source)) {
            snprintf(err, errn, "cannot write the output");
            return -1;
        }
        if (!e->o.output && engine_feed_alert(e, p, &v, row, source)) { snprintf(err, errn, "out of memory"); return -1; }
    }
    e->npending = 0;
    e->pend_text.len = 0;
    return 0;
}

/* ---- the line loop ------------------------------------------------------------------------ */

static int append_part(buf_t *b, const char *s, size_t n) {
    return s ? buf_append(b, s, n) : 0;
}

/* The session of a line (by name, Python's session_keys): its index, created on first use. */
static long session_of(engine *e, const header_t *h, const char *source) {
    buf_t *k = &e->key;
    k->len = 0;
    int r = 0;
    switch (e->by) {
    case BY_NONE: r = buf_append(k, source, strlen(source)); break;
    case BY_HOST: r = h->host ? buf_append(k, h->host, h->host_len) : buf_append(k, "<none>", 6); break;
    case BY_PROCESS: r = h->process ? buf_append(k, h->process, h->process_len) : buf_append(k, "<none>", 6); break;
    case BY_ENTITY:
        if (!h->host && !h->process) { r = buf_append(k, "<none>", 6); break; }
        r = append_part(k, h->host, h->host_len) || buf_putc(k, '/') || append_part(k, h->process, h->process_len);
        if (!r && h->pid) r = buf_putc(k, '[') || buf_append(k, h->pid, h->pid_len) || buf_putc(k, ']');
        break;
    }
    if (r || buf_reserve(k, 0)) return -1;
    k->data[k->len] = '\0';
    long i = hmap_get(&e->session_index, k->data, k->len, -1);
    if (i >= 0) return i;
    if (e->nsessions == e->session_cap) {
        size_t nc = e->session_cap ? 2 * e->session_cap : 64;
        session_t *ns = realloc(e->sessions, nc * sizeof *ns);
        if (!ns) return -1;
        e->sessions = ns;
        char **nn = realloc(e->session_names, nc * sizeof *nn);
        if (!nn) return -1;
        e->session_names = nn;
        e->session_cap = nc;
    }
    session_t *s = &e->sessions[e->nsessions];
    memset(s, 0, sizeof *s);
    s->window = calloc(e->L, sizeof(int32_t));
    e->session_names[e->nsessions] = strdup(k->data);
    if (!s->window || !e->session_names[e->nsessions]) {
        free(s->window);
        free(e->session_names[e->nsessions]);
        return -1;
    }
    if (hmap_put(&e->session_index, k->data, k->len, (long)e->nsessions)) {
        free(s->window);
        free(e->session_names[e->nsessions]);
        return -1;
    }
    return (long)e->nsessions++;
}

static int process_line(engine *e, long line_no, const char *raw, size_t n, FILE *out, const char *source,
                        char *err, size_t errn) {
    if (repair_line(raw, n, MAX_LINE_BYTES, &e->text)) goto oom;
    if (is_blank(e->text.data, e->text.len)) { e->blank++; return 0; }
    e->lines++;
    header_t h;
    header_split(e->head, e->text.data, e->text.len, &h);
    long key = hmap_get(&e->masked_cache, h.content, h.content_len, -3);
    if (key == -3) {
        if (masker_apply(e->mask, h.content, h.content_len, &e->masked)) goto oom;
        key = matcher_match(e->match, e->masked.data, e->masked.len, -1, NULL);
        if (key == -2) goto oom;
        if (e->masked_cache.count >= MASK_CACHE) hmap_clear(&e->masked_cache);
        if (hmap_put(&e->masked_cache, h.content, h.content_len, key)) goto oom;
    }
    long cluster = key >= 0 && (size_t)key < e->ntmpl ? key : -1;
    if (key == -1) e->unseen++;
    key = cluster >= 0 ? e->tmpl_key[cluster] : UNK;
    if (key < 0 || (size_t)key >= e->N) key = UNK;
    long si = session_of(e, &h, source);
    if (si < 0) goto oom;
    session_t *s = &e->sessions[si];
    if (e->has_gap && h.has_time && s->has_time && h.time - s->last_time > e->gap) {
        s->piece++;
        memset(s->window, 0, e->L * sizeof(int32_t));
    }
    s->has_time = h.has_time;
    s->last_time = h.time;
    if (!s->group && h.process) {
        s->group = malloc(h.process_len + 1);
        if (!s->group) goto oom;
        memcpy(s->group, h.process, h.process_len);
        s->group[h.process_len] = '\0';
    }
    pending_t *p = &e->pending[e->npending];
    p->line = line_no;
    p->order = e->lines - 1;
    p->cluster = (int)cluster;
    p->has_time = h.has_time;
    p->time = h.time;
    p->time_us = h.time_us;
    if (!e->o.output) { /* the alert rules' inputs: the line, its entity (host/process, else the source) */
        buf_t *t = &e->pend_text;
        p->text_at = t->len;
        if (buf_append(t, e->text.data, e->text.len) || buf_putc(t, '\0')) goto oom;
        p->entity_at = t->len;
        int r = !h.host && !h.process ? buf_append(t, source, strlen(source))
              : append_part(t, h.host, h.host_len) || buf_putc(t, '/') || append_part(t, h.process, h.process_len);
        if (r || buf_putc(t, '\0')) goto oom;
    }
    p->session = si;
    p->piece = s->piece;
    p->target = (int)key;
    p->window = e->pending_windows + e->npending * e->L;
    memcpy(p->window, s->window, e->L * sizeof(int32_t));
    memmove(s->window, s->window + 1, (e->L - 1) * sizeof(int32_t));
    s->window[e->L - 1] = (int32_t)key;
    if (++e->npending == e->o.batch) return flush(e, out, source, err, errn);
    return 0;
oom:
    snprintf(err, errn, "out of memory");
    return -1;
}

int engine_run(engine *e, FILE *in, const char *source, double mtime, FILE *out, char *err, size_t errn) {
    header_set_reference(e->head, mtime);
    char *block = malloc(1 << 20);
    if (!block) { snprintf(err, errn, "out of memory"); return -1; }
    buf_t *line = &e->line;
    line->len = 0;
    int dropping = 0, rc = 0;
    long line_no = 0;
    size_t got;
    while (!rc && (got = fread(block, 1, 1 << 20, in)) > 0) {
        size_t at = 0;
        while (!rc && at < got) {
            char *nl = memchr(block + at, '\n', got - at);
            size_t end = nl ? (size_t)(nl - block) : got;
            if (!dropping) {
                size_t room = MAX_LINE_BYTES + 1 - line->len, take = end - at;
                if (take > room) { take = room; dropping = 1; }
                if (buf_append(line, block + at, take)) { snprintf(err, errn, "out of memory"); rc = -1; break; }
                if (line->len > MAX_LINE_BYTES) dropping = 1;
            }
            if (!nl) break;
            size_t n = line->len;
            if (n && line->data[n - 1] == '\r') n--;
            rc = process_line(e, ++line_no, line->data ? line->data : "", n, out, source, err, errn);
            line->len = 0;
            dropping = 0;
            at = end + 1;
        }
    }
    if (!rc && ferror(in)) { snprintf(err, errn, "%s: read error", source); rc = -1; }
    if (!rc && line->len) {
        size_t n = line->len;
        if (line->data[n - 1] == '\r') n--;
        rc = process_line(e, ++line_no, line->data, n, out, source, err, errn);
    }
    if (!rc) rc = flush(e, out, source, err, errn);
    free(block);
    return rc;
}

int engine_finish(engine *e, FILE *out, char *err, size_t errn) {
    if (e->o.output) return 0;
    for (size_t i = 0; i < alerts_count(e->rules); i++)
        if (alert_write(alerts_get(e->rules, i), out)) { snprintf(err, errn, "cannot write the output"); return -1; }
    return 0;
}

void engine_stats(const engine *e, FILE *out) {
    fprintf(out, "{\"lines\":%ld,\"blank\":%ld,\"unseen\":%ld,\"windows\":%ld,\"alerts\":%ld,\"scored_windows\":%ld,"
            "\"ort_calls\":%ld,\"sessions\":%zu,\"mask_failures\":%zu", e->lines, e->blank, e->unseen, e->windows,
            e->alerts, e->scored, e->calls, e->nsessions, masker_failures(e->mask));
    if (!e->o.output) {
        fputs(",\"alert_rules\":", out);
        alerts_summary(e->rules, out);
    }
    fputs("}\n", out);
}

long engine_alerts(const engine *e) { return e->o.output ? e->alerts : (long)alerts_count(e->rules); }
