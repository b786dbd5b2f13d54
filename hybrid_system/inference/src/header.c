/* header.c - the `raw` preset (no header) and `syslog` (parsing/presets.py: RFC 3164 time or ISO-8601,
 * host, optional `process[pid]:` tag), with the same regex in PCRE2 (RE2 \s rewritten without \v). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "header.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SP "\\t\\n\\f\\r "
static const char SYSLOG_RE[] =
    "^([A-Z][a-z]{2} +\\d{1,2} \\d\\d:\\d\\d:\\d\\d|"
    "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?:Z|[+-]\\d\\d:?\\d\\d)?) "
    "([^" SP "]+) (?:([^" SP "\\[:]+)(?:\\[(\\d+)\\])?:(?: |$))?";

struct header_parser {
    preset_t preset;
    pcre2_code *re;
    pcre2_match_data *md;
    double ref;
    int year;
};

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

double civil_seconds(int y, int m, int d, int hh, int mm, double ss) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y)) || hh > 23 || mm > 59 || ss >= 60)
        return -1e18;
    /* days_from_civil (H. Hinnant) */
    long yy = y - (m <= 2);
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    return (double)days * 86400.0 + hh * 3600.0 + mm * 60.0 + ss;
}

header_parser *header_new(const char *preset, double ref_time, int year, char *err, size_t errn) {
    header_parser *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, errn, "out of memory"); return NULL; }
    h->ref = ref_time;
    h->year = year;
    if (!strcmp(preset, "raw")) {
        h->preset = PRESET_RAW;
        return h;
    }
    if (strcmp(preset, "syslog")) {
        snprintf(err, errn, "log format '%s' is not supported by the C engine (supported: raw, syslog); "
                 "use the Python path (alog-detect infer) for it", preset);
        free(h);
        return NULL;
    }
    h->preset = PRESET_SYSLOG;
    int code;
    PCRE2_SIZE off;
    h->re = pcre2_compile((PCRE2_SPTR)SYSLOG_RE, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
    h->md = h->re ? pcre2_match_data_create_from_pattern(h->re, NULL) : NULL;
    if (!h->re || !h->md) {
        snprintf(err, errn, "internal error: syslog pattern");
        header_free(h);
        return NULL;
    }
    (void)pcre2_jit_compile(h->re, PCRE2_JIT_COMPLETE);
    return h;
}

void header_set_reference(header_parser *h, double ref_time) { h->ref = ref_time; }
preset_t header_preset(const header_parser *h) { return h->preset; }

static int num(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    return v;
}

/* `Mar  1 00:00:01` (year from the reference) or ISO-8601; 0 when it is not a valid time. *us: the
 * time in whole microseconds (the fraction's first 6 digits). */
static int parse_time(const header_parser *h, const char *s, size_t n, double *out, long long *us) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n >= 3 && s[0] >= 'A' && s[0] <= 'Z' && !(s[0] >= '0' && s[0] <= '9')) {
        int mon = 0;
        for (int k = 0; k < 12; k++)
            if (!memcmp(months + 3 * k, s, 3)) mon = k + 1;
        if (!mon) return 0;
        size_t i = 3;
        while (i < n && s[i] == ' ') i++;
        size_t d0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        int day = num(s + d0, i - d0);
        if (n - i != 9) return 0;
        const char *t = s + i + 1;
        int hh = num(t, 2), mm = num(t + 3, 2), ss = num(t + 6, 2);
        int year = h->year;
        double v;
        if (year <= 0) {
            time_t ref = (time_t)h->ref;
            struct tm tm;
            if (!gmtime_r(&ref, &tm)) return 0;
            year = tm.tm_year + 1900;
            v = civil_seconds(year, mon, day, hh, mm, ss);
            if (v > h->ref + 86400.0) v = civil_seconds(year - 1, mon, day, hh, mm, ss);
        } else {
            v = civil_seconds(year, mon, day, hh, mm, ss);
        }
        if (v < -1e17) return 0;
        *out = v;
        *us = (long long)v * 1000000;
        return 1;
    }
    if (n < 19) return 0;
    double v = civil_seconds(num(s, 4), num(s + 5, 2), num(s + 8, 2), num(s + 11, 2), num(s + 14, 2), num(s + 17, 2));
    if (v < -1e17) return 0;
    size_t i = 19;
    long long whole = (long long)v, frac_us = 0;
    if (i < n && s[i] == '.') {
        double scale = 0.1;
        long long unit = 100000;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10, unit /= 10) {
            v += (s[i] - '0') * scale;
            frac_us += (s[i] - '0') * unit; /* unit is 0 after the 6th digit */
        }
    }
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        int oh = num(s + i + 1, 2);
        int om = num(s + n - 2, 2);
        v -= sign * (oh * 3600.0 + om * 60.0);
        whole -= sign * (oh * 3600LL + om * 60LL);
    }
    *out = v;
    *us = whole * 1000000 + frac_us;
    return 1;
}

void header_split(header_parser *h, const char *s, size_t n, header_t *out) {
    memset(out, 0, sizeof *out);
    out->content = s;
    out->content_len = n;
    if (h->preset == PRESET_RAW) return;
    int rc = pcre2_match(h->re, (PCRE2_SPTR)s, n, 0, 0, h->md, NULL);
    if (rc < 0) return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(h->md);
    const char **ptr[] = {NULL, NULL, &out->host, &out->process, &out->pid};
    size_t *len[] = {NULL, NULL, &out->host_len, &out->process_len, &out->pid_len};
    for (int g = 2; g <= 4; g++) {
        if (g < rc && ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] > ov[2 * g]) {
            *ptr[g] = s + ov[2 * g];
            *len[g] = ov[2 * g + 1] - ov[2 * g];
        }
    }
    out->has_time = parse_time(h, s + ov[2], ov[3] - ov[2], &out->time, &out->time_us);
    out->content = s + ov[1];
    out->content_len = n - ov[1];
}

void header_free(header_parser *h) {
    if (!h) return;
    pcre2_match_data_free(h->md);
    pcre2_code_free(h->re);
    free(h);
}
