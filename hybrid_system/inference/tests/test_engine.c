/* test_engine.c - unit tests of the engine's pure parts: JSON reading and escaping, line repair,
 * masking with the repository's rules.json, frozen template matching, header splitting, the verdict
 * arithmetic. Prints "N passed, N failed"; exit status 1 when any failed.
 * Usage: test_engine [RULES_JSON]   (default: ../../rules.json, the packaged default rules)
 *        test_engine --canonical FILE | --canonical-sha256 FILE
 *            (test entries for tests/test_c_engine.py: Python's canonical JSON of FILE, or its sha256
 *            in hex, on stdout; exit 2 with the reason on stderr when it is refused)
 *        test_engine --alerts FILE K N COOLDOWN_SEQ COOLDOWN_NOVELTY TIMEOUT  (alert rules over a TSV) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "bundle.h"
#include "canon.h"
#include "header.h"
#include "json.h"
#include "mask.h"
#include "match.h"
#include "scorer.h"
#include "sha256.h"
#include "text.h"

#include "check.h"

int passed, failed;

static void test_json(void) {
    json_value v;
    char err[200];
    const char *doc = "{\"a\": [1, 2.5, -3e2, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"o\": {}}";
    CHECK(json_parse(doc, strlen(doc), &v, err, sizeof err) == 0, "parse: %s", err);
    const json_value *a = json_get(&v, "a"), *s = json_get(&v, "s");
    CHECK(a && a->type == JSON_ARRAY && a->len == 6 && a->items[2].number == -300, "array");
    CHECK(s && s->len == 8 && !memcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8), "string escapes");
    json_free(&v);
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"\\x\"", "[1] 2", "\"a\nb\"", "01x", "[[[[", "tru"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(json_parse(bad[i], strlen(bad[i]), &v, err, sizeof err) == -1, "refuses %s", bad[i]);
    char deep[300];
    memset(deep, '[', sizeof deep);
    CHECK(json_parse(deep, sizeof deep, &v, err, sizeof err) == -1, "depth limit");
}

static void test_escape(void) {
    buf_t b = {0};
    json_escape(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
    CHECK(!strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\""), "escape: %s", b.data);
    buf_free(&b);
}

static void test_repair(void) {
    buf_t b = {0};
    repair_line("a\0b", 3, 100, &b);
    CHECK(b.len == 5 && !memcmp(b.data, "a\xef\xbf\xbd" "b", 5), "NUL -> U+FFFD");
    repair_line("x\xff\xc3y", 4, 100, &b);  /* two invalid pieces, each one U+FFFD */
    CHECK(b.len == 8 && !memcmp(b.data, "x\xef\xbf\xbd\xef\xbf\xbdy", 8), "invalid UTF-8");
    repair_line("\xe2\x82z", 3, 100, &b);   /* truncated 3-byte sequence: one U+FFFD (maximal subpart) */
    CHECK(b.len == 4 && !memcmp(b.data, "\xef\xbf\xbdz", 4), "maximal subpart");
    repair_line("\xed\xa0\x80", 3, 100, &b); /* a surrogate: three U+FFFD as Python */
    CHECK(b.len == 9, "surrogate bytes: %zu", b.len);
    repair_line("ab\xc3\xa9", 4, 3, &b);     /* cut inside a character: the character goes */
    CHECK(b.len == 2 && !memcmp(b.data, "ab", 2), "cut on a boundary");
    CHECK(is_blank(" \t\r", 3) && is_blank("", 0) && is_blank("\xc2\xa0", 2) && !is_blank(" a", 2), "blank");
    buf_free(&b);
}

static void test_mask(const char *rules_path) {
    size_t n;
    char *text = read_file(rules_path, 1 << 24, &n);
    CHECK(text != NULL, "read %s", rules_path);
    if (!text) return;
    json_value rules;
    char err[300];
    CHECK(json_parse(text, n, &rules, err, sizeof err) == 0, "rules: %s", err);
    free(text);
    masker *m = masker_new(&rules, err, sizeof err);
    CHECK(m != NULL, "masker: %s", err);
    json_free(&rules);
    if (!m) return;
    static const char *cases[][2] = {
        {"Accepted password for root from 10.0.0.1 port 22 ssh2", "Accepted password for root from <IP> port <NUM> ssh2"},
        {"sshd[1234]: session opened pid=77", "sshd[<PID>]: session opened pid= <PID>"},
        {"GET http://x.com/a?b=1 took 12ms", "GET <URL> took <NUM>"},
        {"blk_-123456 at 0x1f3a /var/log/x.log", "<NUM> at <SEQ>"},
        {"user \"bob smith\" uid=1000 on sda1", "user \"<STR>\" uid= <NUM> on <DEV>"},
        {"Mon Jan  2 03:04:05 2024 host.example.com up", "<SEQ> up"},
        {"caf\xc3\xa9 10.1.2.3 \xc3\xa9t\xc3\xa9 deadbeef12", "caf\xc3\xa9 <IP> \xc3\xa9t\xc3\xa9 <HEX>"},
        {"a <NUM> <IP> b", "a <SEQ> b"},
        {"", ""},
    };
    buf_t out = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(masker_apply(m, cases[i][0], strlen(cases[i][0]), &out) == 0, "apply");
        CHECK(!strcmp(out.data, cases[i][1]), "mask(%s) = %s, want %s", cases[i][0], out.data, cases[i][1]);
    }
    /* a long hostile line: finishes (JIT or match limit), never crashes */
    size_t big = 70000;
    char *s = malloc(big);
    for (size_t i = 0; i < big; i++) s[i] = "a1-_/.:"[i % 7];
    CHECK(masker_apply(m, s, big, &out) == 0, "long line");
    free(s);
    buf_free(&out);
    masker_free(m);
    /* masks with groups; a rule that does not compile is refused with its number */
    const char *doc = "[{\"name\":\"x\",\"group\":\"g\",\"pattern\":\"(a)(b)?c\",\"mask\":\"<\\\\2\\\\1>\"}]";
    json_parse(doc, strlen(doc), &rules, err, sizeof err);
    m = masker_new(&rules, err, sizeof err);
    json_free(&rules);
    CHECK(m != NULL, "group rule: %s", err);
    if (m) {
        buf_t o = {0};
        masker_apply(m, "ac abc", 6, &o);
        CHECK(!strcmp(o.data, "<a> <ba>"), "unset group is empty: %s", o.data);
        buf_free(&o);
        masker_free(m);
    }
    doc = "[{\"name\":\"x\",\"group\":\"g\",\"pattern\":\"(a\",\"mask\":\"y\"}]";
    json_parse(doc, strlen(doc), &rules, err, sizeof err);
    m = masker_new(&rules, err, sizeof err);
    json_free(&rules);
    CHECK(m == NULL && strstr(err, "rule 0"), "bad pattern refused: %s", err);
    masker_free(m);
}

static void test_match(void) {
    /* tests/test_miner.py::test_frozen_matching_rules and ..._masks_of_any_kind_alike */
    matcher *m = matcher_new(NULL, 0);
    const char *t[] = {"a <*> c d", "a b c d", "<*> b <*> d", "x <*> <*> d"};
    for (int i = 0; i < 4; i++) matcher_add(m, i + 1, t[i], strlen(t[i]), 100 + i + 1);
    matcher_finish(m);
    const char *msgs[] = {"a b c d", "a z c d", "q b q d", "a b c", "a  z\tc d", "x b y d", ""};
    const int want[] = {2, 1, 3, -1, 1, 3, -1};
    for (int i = 0; i < 7; i++) {
        long id;
        int v = matcher_match(m, msgs[i], strlen(msgs[i]), -7, &id);
        CHECK(id == want[i] && v == (want[i] < 0 ? -7 : 100 + want[i]), "match(%s) = %ld, want %d", msgs[i], id, want[i]);
    }
    matcher_free(m);
    m = matcher_new(NULL, 0);
    const char *u[] = {"iar <HEX> dear rhost=<IP>", "iar <*> dear done"};
    for (int i = 0; i < 2; i++) matcher_add(m, i + 1, u[i], strlen(u[i]), i + 1);
    matcher_finish(m);
    const char *msgs2[] = {"iar <NUM> dear rhost=<HOST>", "iar 12 dear rhost=<IP>", "iar <NUM> dear done",
                           "iar <NUM> dear rhost=x"};
    const int want2[] = {1, -1, 2, -1};
    for (int i = 0; i < 4; i++) {
        long id;
        matcher_match(m, msgs2[i], strlen(msgs2[i]), -1, &id);
        CHECK(id == want2[i], "mask kinds alike: match(%s) = %ld, want %d", msgs2[i], id, want2[i]);
    }
    matcher_free(m);
    const char *delims[] = {"="};
    m = matcher_new(delims, 1);
    matcher_add(m, 1, "k <*>", 5, 1);
    matcher_finish(m);
    long id;
    matcher_match(m, "k=v", 3, -1, &id);
    CHECK(id == 1, "extra delimiters");
    matcher_free(m);
}

static void test_header(void) {
    char err[200];
    header_parser *h = header_new("syslog", civil_seconds(2025, 6, 1, 0, 0, 0), 0, err, sizeof err);
    CHECK(h != NULL, "syslog: %s", err);
    header_t x;
    const char *l = "Mar  1 00:00:01 db-01 sshd[42]: Accepted x";
    header_split(h, l, strlen(l), &x);
    CHECK(x.host_len == 5 && !memcmp(x.host, "db-01", 5) && x.process_len == 4 && x.pid_len == 2 &&
          !strcmp(x.content, "Accepted x") && x.has_time && x.time == civil_seconds(2025, 3, 1, 0, 0, 1), "syslog split");
    l = "Dec 31 23:59:59 h kernel: boom";  /* after the reference by more than a day: last year */
    header_split(h, l, strlen(l), &x);
    CHECK(x.has_time && x.time == civil_seconds(2024, 12, 31, 23, 59, 59) && !x.pid && !strcmp(x.content, "boom"),
          "year rollover");
    l = "2024-01-02T03:04:05.5+01:00 host msg without tag";
    header_split(h, l, strlen(l), &x);
    CHECK(x.has_time && x.time == civil_seconds(2024, 1, 2, 2, 4, 5.5) && !x.process &&
          !strcmp(x.content, "msg without tag"), "ISO time, no tag");
    CHECK(x.time_us == (long long)civil_seconds(2024, 1, 2, 2, 4, 5) * 1000000 + 500000, "ISO time in microseconds");
    l = "2024-03-01T00:00:01.3327539-00:30 h p[1]: m";
    header_split(h, l, strlen(l), &x);
    CHECK(x.has_time && x.time_us == (long long)civil_seconds(2024, 3, 1, 0, 30, 1) * 1000000 + 332753,
          "fraction cut after 6 digits, negative offset: %lld", x.time_us);
    l = "not a syslog line";
    header_split(h, l, strlen(l), &x);
    CHECK(!x.host && !x.has_time && x.content == l, "unmatched line is all message");
    header_free(h);
    h = header_new("bgl", 0, 0, err, sizeof err);
    CHECK(h == NULL && strstr(err, "not supported"), "unsupported preset: %s", err);
    h = header_new("raw", 0, 0, err, sizeof err);
    header_split(h, "a b", 3, &x);
    CHECK(x.content_len == 3 && !x.host, "raw");
    header_free(h);
}

static void test_verdict(void) {
    double a[300];
    for (int i = 0; i < 300; i++) a[i] = 1.0 / (i + 1);
    double seq = 0;
    for (int i = 0; i < 300; i++) seq += a[i];
    CHECK(fabs(pairwise_sum(a, 300) - seq) < 1e-12, "pairwise sum");
    float row[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    rule_t cal = {0, -1, 30};
    verdict_t v;
    verdict_compute(row, 4, 1, 0, 0, 1.0, &cal, &v);
    CHECK(v.rank == 3 && fabs(v.tail - 0.3) < 1e-6 && fabs(v.surprise - (-log10(v.tail))) < 1e-12 && v.hit,
          "calibrated hit: rank %ld tail %g", v.rank, v.tail);
    verdict_compute(row, 4, 0, 0, 0, 0.5, &cal, &v);  /* tail 0.1: surprise 1 > 0.5 */
    CHECK(!v.hit, "calibrated miss");
    verdict_compute(row, 4, 0, 0, 1, 0.5, &cal, &v);
    CHECK(v.hit, "seen pair never misses");
    verdict_compute(row, 4, 3, 1, 1, 0.5, &cal, &v);
    CHECK(!v.hit && v.surprise == 30, "novel always misses");
    rule_t topk = {2, -1, 30};
    verdict_compute(row, 4, 2, 0, 0, 0, &topk, &v);
    CHECK(v.hit, "top-2 hit");
    verdict_compute(row, 4, 1, 0, 0, 0, &topk, &v);
    CHECK(!v.hit, "top-2 miss");
    int top[3];
    float tie[4] = {0.5f, 0.9f, 0.9f, 0.1f};
    top_keys(tie, 4, 3, top);
    CHECK(top[0] == 1 && top[1] == 2 && top[2] == 0, "top keys, ties to the lower key");
}

/* FIPS 180-4 / NIST CSRC example vectors, padding boundaries (55..120 bytes of 0,1,2..., digests from
 * Python's hashlib), and streamed updates in odd pieces equal to one call. */
static void test_sha256(void) {
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256(\"\"): %s", hex);
    sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc): %s", hex);
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m448, strlen(m448), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits): %s", hex);
    static const struct { size_t n; const char *hex; } edge[] = {
        {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
        {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
        {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
        {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
        {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
        {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
        {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"}};
    unsigned char seq[128];
    for (size_t i = 0; i < sizeof seq; i++) seq[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        sha256_hex(seq, edge[i].n, hex);
        CHECK(!strcmp(hex, edge[i].hex), "sha256 of %zu bytes: %s", edge[i].n, hex);
    }
    /* one million 'a' (NIST), fed in pieces of 1, 7, 64, 1000 ... bytes */
    static char a[1000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    unsigned char d[32];
    sha256_init(&c);
    size_t left = 1000000, piece[] = {1, 7, 64, 1000, 63, 129};
    for (size_t i = 0; left; i++) {
        size_t n = piece[i % 6] < left ? piece[i % 6] : left;
        sha256_update(&c, a, n);
        left -= n;
    }
    sha256_final(&c, d);
    static const unsigned char million[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
                                              0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
                                              0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    CHECK(!memcmp(d, million, 32), "sha256 of 1,000,000 'a' in pieces");
}

static void buf_sink(void *ctx, const char *data, size_t n) { buf_append(ctx, data, n); }

/* The canonical JSON of `doc` (skip: top-level member left out) into out; 0 or -1 (reason in err). */
static int canon_of(const char *doc, size_t n, const char *skip, buf_t *out, char *err, size_t errn) {
    json_value v;
    out->len = 0;
    if (json_parse(doc, n, &v, err, errn)) return -1;
    int rc = canon_write(&v, skip, buf_sink, out, err, errn);
    json_free(&v);
    if (!rc && buf_putc(out, '\0')) rc = -1;
    if (!rc) out->len--;
    return rc;
}

/* Expected bytes from Python: json.dumps(json.loads(doc), sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False).encode("utf-8"). Keys sort by code point (U+007F < U+00E9 < U+FF5A < U+1F600,
 * a prefix first, "e\u0301" before "k"), numbers keep their text, DEL and U+2028 stay raw. */
static void test_canon(void) {
    static const char *cases[][2] = {
        {"{\"b\": {\"z\": 1, \"a\": [1e-05, 0.30000000000000004, -0.0, 12345678901234567890123, -7, 1."
         "5e+300, 0.1, 100.0]}, \"a\": \"x\\u00e9\\ud83d\\ude00\", \"\\u00e9\": null, \"\\u007f\": tru"
         "e, \"ab\": false, \"\": \"\\u2028\\u0000\\u001f\\\"\\\\\\/\\b\\f\\n\\r\\t\\u007f\", \"\\ud83"
         "d\\ude00\": 1, \"\\uff5a\": 2, \"a\\u0001\": [], \"z\": {}}",
          "{\"\":\"\xe2\x80\xa8\\u0000\\u001f\\\"\\\\/\\b\\f\\n\\r\\t\x7f\",\"a\":\"x\xc3\xa9\xf0\x9f"
          "\x98\x80\",\"a\\u0001\":[],\"ab\":false,\"b\":{\"a\":[1e-05,0.30000000000000004,-0.0,1234567"
          "8901234567890123,-7,1.5e+300,0.1,100.0],\"z\":1},\"z\":{},\"\x7f\":true,\"\xc3\xa9\":null,\""
          "\xef\xbd\x9a\":2,\"\xf0\x9f\x98\x80\":1}"},
        {"{\"cl\xc3\xa9\":\"v\xc3\xa4lue \xe2\x82\xac\", \"k\\n\\u000b\":\"\x7f\", \"\xf0\x9d\x84\x9e"
         "\":[{\"y\":[true,null],\"x\":\"\\u00e9\"}], \"\xc3\xa9\":0, \"e\\u0301\":1, \"metadata_sha25"
         "6\":{\"metadata_sha256\":1}}",
          "{\"cl\xc3\xa9\":\"v\xc3\xa4lue \xe2\x82\xac\",\"e\xcc\x81\":1,\"k\\n\\u000b\":\"\x7f\",\"met"
          "adata_sha256\":{\"metadata_sha256\":1},\"\xc3\xa9\":0,\"\xf0\x9d\x84\x9e\":[{\"x\":\"\xc3"
          "\xa9\",\"y\":[true,null]}]}"},
        {" [ ] ", "[]"},
        {"\"\\u0000\"", "\"\\u0000\""},
        {"-0.0", "-0.0"},
        {"12345678901234567890123456789", "12345678901234567890123456789"},
    };
    buf_t b = {0};
    char err[200];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = canon_of(cases[i][0], strlen(cases[i][0]), NULL, &b, err, sizeof err);
        CHECK(rc == 0 && b.len == strlen(cases[i][1]) && !memcmp(b.data, cases[i][1], b.len), "canon %zu: %s",
              i, rc ? err : b.data);
    }
    /* the top-level member `skip` only, not a nested one of the same name */
    const char *doc = "{\"metadata_sha256\": \"x\", \"b\": {\"metadata_sha256\": 1}}";
    CHECK(!canon_of(doc, strlen(doc), "metadata_sha256", &b, err, sizeof err) &&
          !strcmp(b.data, "{\"b\":{\"metadata_sha256\":1}}"), "skip: %s", b.data);
    /* refused: duplicate keys (also nested), a key with NUL, lone surrogates, invalid UTF-8, NaN / inf */
    const char *bad[] = {"{\"a\":1,\"b\":2,\"a\":3}", "[{\"x\":{\"k\":1,\"k\":1}}]", "{\"a\\u0000b\":1}",
                         "\"\\ud800\"", "{\"\\udc00\":1}", "\"\\ud800\\u0041\"", "\"\xff\"", "{\"\xc3\":1}",
                         "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "NaN", "[Infinity]", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = canon_of(bad[i], strlen(bad[i]), NULL, &b, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "not canonical JSON"), "canon refuses %s", bad[i]);
    }
    doc = "{\"k\\u0000a\":1,\"k\\u0000b\":2}"; /* keys[] would read both as "k" */
    CHECK(canon_of(doc, strlen(doc), NULL, &b, err, sizeof err) == -1 && strstr(err, "NUL"), "NUL key: %s", err);
    buf_free(&b);
    /* the streamed sha256 equals the sha256 of the bytes; and metadata.json's seal */
    const char *meta = "{\n \"format\": \"alog-detect/bundle\",\n \"version\": 1,\n \"thresholds\": {\n  \"tau\": "
                       "1e-05,\n  \"p\": 0.30000000000000004\n },\n \"note\": \"caf\xc3\xa9\\n\",\n"
                       " \"metadata_sha256\": \"6b1f143a629552f64b5bc686bb7376b8d5ffba61d3036ad0ffd184fb3b0d5d93\"\n}";
    json_value v;
    char hex[65];
    CHECK(!json_parse(meta, strlen(meta), &v, err, sizeof err), "meta: %s", err);
    CHECK(!canon_sha256(&v, "metadata_sha256", hex, err, sizeof err) &&
          !strcmp(hex, "6b1f143a629552f64b5bc686bb7376b8d5ffba61d3036ad0ffd184fb3b0d5d93"), "canon sha256: %s", hex);
    CHECK(metadata_verify("B", &v, err, sizeof err) == 0, "sealed metadata: %s", err);
    json_free(&v);
    static const char *edits[][2] = {{"1e-05", "2e-05"}, {"caf", "cag"}, {"6b1f", "6b1e"},
                                     {"\"version\"", "\"Version\""}};
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        char edited[1024];
        snprintf(edited, sizeof edited, "%s", meta);
        char *at = strstr(edited, edits[i][0]);
        memcpy(at, edits[i][1], strlen(edits[i][1]));
        CHECK(!json_parse(edited, strlen(edited), &v, err, sizeof err), "edited: %s", err);
        CHECK(metadata_verify("B", &v, err, sizeof err) == -1 &&
              !strcmp(err, "B: metadata.json was modified after the bundle was written (metadata_sha256 mismatch)"),
              "edit %s refused: %s", edits[i][1], err);
        json_free(&v);
    }
    doc = "{\"format\":\"alog-detect/bundle\",\"a\":1,\"a\":1,\"metadata_sha256\":\"x\"}";
    json_parse(doc, strlen(doc), &v, err, sizeof err);
    CHECK(metadata_verify("B", &v, err, sizeof err) == -1 && strstr(err, "cannot be verified: not canonical JSON: "
          "duplicate key 'a'"), "duplicate key in metadata: %s", err);
    json_free(&v);
    doc = "[1]";
    json_parse(doc, strlen(doc), &v, err, sizeof err);
    CHECK(metadata_verify("B", &v, err, sizeof err) == -1 && strstr(err, "not a JSON object"), "array: %s", err);
    json_free(&v);
}

/* --canonical / --canonical-sha256 FILE: 0, or 2 with the reason on stderr. */
static int canonical_main(const char *opt, const char *path) {
    size_t n;
    char err[300];
    char *text = bundle_read_regular(path, BUNDLE_MAX_METADATA, &n, err, sizeof err);
    if (!text) { fprintf(stderr, "%s\n", err); return 2; }
    buf_t b = {0};
    int rc = canon_of(text, n, NULL, &b, err, sizeof err);
    free(text);
    if (rc) fprintf(stderr, "%s: %s\n", path, err);
    else if (!strcmp(opt, "--canonical")) fwrite(b.data, 1, b.len, stdout);
    else {
        char hex[65];
        sha256_hex(b.data, b.len, hex);
        printf("%s\n", hex);
    }
    buf_free(&b);
    return rc ? 2 : 0;
}

static void test_bundle_names(void) {
    const char *good[] = {"deeplog.onnx", "vocab_c.json", "deeplog_seen_pairs.npz", "a.pth", "x-1.2.json"};
    const char *bad[] = {"metadata.json", "../x.json", "a/b.json", "Vocab.json", ".hidden.json", "x.txt", ".json",
                         "a..b.json", "", "x.json/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(bundle_name_ok(good[i]), "name ok: %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(!bundle_name_ok(bad[i]), "name refused: %s", bad[i]);
}

int main(int argc, char **argv) {
    if (argc == 3 && (!strcmp(argv[1], "--canonical") || !strcmp(argv[1], "--canonical-sha256")))
        return canonical_main(argv[1], argv[2]);
    if (argc == 8 && !strcmp(argv[1], "--alerts")) return alerts_main(argv);
    test_sha256();
    test_canon();
    test_bundle_names();
    test_json();
    test_escape();
    test_repair();
    test_mask(argc > 1 ? argv[1] : "../../rules.json");
    test_match();
    test_header();
    test_verdict();
    test_alerts();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
