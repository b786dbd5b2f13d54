/* fuzz_line.c - libFuzzer target of the line path: repair, blank test, syslog header split, masking
 * with the repository's rules.json, frozen matching, JSON escaping; and the JSON reader on the same
 * bytes, then the canonical JSON (canon.c) of what it parsed.
 * Build: make fuzz; run: build-fuzz/fuzz_line -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    return 0;
}
