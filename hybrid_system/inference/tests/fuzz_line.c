/* fuzz_line.c - libFuzzer target of the line path: repair, blank test, syslog header split, masking
 * with the repository's rules.json, frozen matching, JSON escaping; and the JSON reader on the same
 * bytes, then the canonical JSON (canon.c) of what it parsed; and the alert rules (alerts.c) over the
 * bytes read as a prediction stream (settings from the first bytes, 3 bytes per prediction).
 * Build: make fuzz; run: build-fuzz/fuzz_line -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "canon.h"
#include "header.h"
#include "json.h"
#include "mask.h"
#include "match.h"
#include "text.h"

static masker *m;
static matcher *mt;
static header_parser *h;

static void setup(void) {
    size_t n;
    char *text = read_file(getenv("ALOG_RULES") ? getenv("ALOG_RULES") : "../../rules.json", 1 << 24, &n);
    json_value rules;
    char err[300];
    if (!text || json_parse(text, n, &rules, err, sizeof err)) abort();
    free(text);
    m = masker_new(&rules, err, sizeof err);
    json_free(&rules);
    mt = matcher_new(NULL, 0);
    const char *t[] = {"a <*> c", "Accepted password for <*> from <IP> port <NUM> ssh2", "<*>", "<*> <*>"};
    for (int i = 0; i < 4; i++) matcher_add(mt, i + 1, t[i], strlen(t[i]), i + 3);
    matcher_finish(mt);
    h = header_new("syslog", 1.7e9, 0, err, sizeof err);
    if (!m || !h) abort();
}

static void fuzz_alerts(const uint8_t *d, size_t size) {
    if (size < 4) return;
    alert_settings s = {1 + d[0] % 4, 1 + d[0] % 4 + d[1] % 4, (double)(d[2] % 8), (double)(d[3] % 8),
                        (double)(d[1] >> 4), 3};
    char err[100];
    alert_engine *a = alerts_new(&s, err, sizeof err);
    if (!a) return;
    static const char *ent[] = {"a", "b", "c", ""}, *tm[] = {"T1", "T2", "<UNSEEN>", ""};
    static const char *exp[] = {"x", "y", "z"};
    int64_t t = 0;
    long order = 0;
    for (size_t i = 4; i + 3 <= size; i += 3) {
        alert_pred p = {0};
        uint8_t b = d[i], c = d[i + 1];
        p.entity = ent[b & 3];
        p.source = "f";
        order += c & 7;
        p.order = order;
        p.line_no = order + 1;
        p.has_time = (b >> 2) & 1;
        t += ((int64_t)(int8_t)d[i + 2]) * 250000000;
        p.ns = t;
        p.is_novel = (b >> 3) & 1;
        p.is_miss = p.is_novel || ((b >> 4) & 1);
        p.tmpl = tm[(b >> 5) & 3];
        p.nexpected = c >> 6;
        for (int k = 0; k < 3; k++) p.expected[k] = exp[k];
        p.raw = (const char *)d;
        p.raw_len = (c >> 3) & 7;
        p.score = (double)(c >> 3);
        if (alerts_add(a, &p)) break;
    }
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    for (size_t i = 0; null && i < alerts_count(a); i++) alert_write(alerts_get(a, i), null);
    alerts_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!m) setup();
    buf_t line = {0}, masked = {0}, out = {0};
    repair_line((const char *)data, size, 64 * 1024, &line);
    if (!is_blank(line.data, line.len)) {
        header_t hd;
        header_split(h, line.data, line.len, &hd);
        masker_apply(m, hd.content, hd.content_len, &masked);
        long id;
        matcher_match(mt, masked.data, masked.len, 1, &id);
        json_escape(&out, masked.data, masked.len);
    }
    json_value v;
    char err[100];
    if (!json_parse((const char *)data, size, &v, err, sizeof err)) {
        char hex[65];
        canon_sha256(&v, "metadata_sha256", hex, err, sizeof err);
        json_free(&v);
    }
    buf_free(&line);
    buf_free(&masked);
    buf_free(&out);
    fuzz_alerts(data, size);
    return 0;
}
