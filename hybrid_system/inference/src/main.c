/* main.c - alog-engine: DeepLog detection from an exported bundle on the ONNX Runtime C API.
 *
 *   alog-engine --bundle DIR [--ort-lib PATH] [--format raw|syslog] [--threads N] [--batch N]
 *               [--cache N] [--year Y] [--k-of-n K N] [--cooldown-seq S] [--cooldown-novelty S]
 *               [--session-timeout S] [--misses | --all] [--stats] [FILE...]   (no FILE or "-": stdin)
 *
 * Prints one JSON line per alert of `infer`'s alert rules (DeepLog Enhanced, alerts.h) after the
 * input; --misses: one per window DeepLog misses, as it is scored; --all: every line's verdict.
 * Exit status: 0 no alert (no miss), 1 alerts, 2 error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"

#ifndef ORT_LIB_DEFAULT
#define ORT_LIB_DEFAULT "libonnxruntime.so"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: alog-engine --bundle DIR [--ort-lib PATH] [--format raw|syslog] [--threads N] "
               "[--batch N] [--cache N] [--year Y] [--k-of-n K N] [--cooldown-seq S] [--cooldown-novelty S] "
               "[--session-timeout S] [--misses | --all] [--stats] [FILE...]\n");
}

static int number(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int seconds(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < 0) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    engine_opts o = {0};
    o.alert = (alert_settings){-1, -1, -1, -1, -1, 3};
    o.ort_lib = getenv("ALOG_ORT_LIB") ? getenv("ALOG_ORT_LIB") : ORT_LIB_DEFAULT;
    int stats = 0, nfiles = 0;
    char **files = calloc((size_t)argc + 1, sizeof(char *));
    if (!files) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        int has_arg = i + 1 < argc;
        if (!strcmp(a, "--bundle") && has_arg) o.bundle = argv[++i];
        else if (!strcmp(a, "--ort-lib") && has_arg) o.ort_lib = argv[++i];
        else if (!strcmp(a, "--format") && has_arg) o.format = argv[++i];
        else if (!strcmp(a, "--threads") && has_arg && !number(argv[i + 1], 0, 1024, &v)) { o.threads = (int)v; i++; }
        else if (!strcmp(a, "--batch") && has_arg && !number(argv[i + 1], 1, 1 << 20, &v)) { o.batch = (size_t)v; i++; }
        else if (!strcmp(a, "--cache") && has_arg && !number(argv[i + 1], 1, 1 << 30, &v)) { o.cache = (size_t)v; i++; }
        else if (!strcmp(a, "--year") && has_arg && !number(argv[i + 1], 1900, 2200, &v)) { o.year = (int)v; i++; }
        else if (!strcmp(a, "--k-of-n") && i + 2 < argc && !number(argv[i + 1], 1, 1000000, &v) &&
                 !number(argv[i + 2], v, 1000000, &o.alert.n)) { o.alert.k = v; i += 2; }
        else if (!strcmp(a, "--cooldown-seq") && has_arg && !seconds(argv[i + 1], &o.alert.cooldown_seq)) i++;
        else if (!strcmp(a, "--cooldown-novelty") && has_arg && !seconds(argv[i + 1], &o.alert.cooldown_novelty)) i++;
        else if (!strcmp(a, "--session-timeout") && has_arg && !seconds(argv[i + 1], &o.alert.session_timeout) &&
                 o.alert.session_timeout > 0) i++;
        else if (!strcmp(a, "--all")) o.output = OUTPUT_ALL;
        else if (!strcmp(a, "--misses")) o.output = OUTPUT_MISSES;
        else if (!strcmp(a, "--stats")) stats = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(files); return 0; }
        else if (a[0] == '-' && a[1]) { usage(stderr); fprintf(stderr, "alog-engine: bad option %s\n", a); free(files); return 2; }
        else files[nfiles++] = argv[i];
    }
    if (!o.bundle) { usage(stderr); free(files); return 2; }
    char err[1024] = "";
    engine *e = engine_new(&o, err, sizeof err);
    if (!e) { fprintf(stderr, "alog-engine: %s\n", err); free(files); return 2; }
    if (!nfiles) files[nfiles++] = "-";
    int rc = 0;
    for (int i = 0; i < nfiles && !rc; i++) {
        int is_stdin = !strcmp(files[i], "-");
        FILE *in = is_stdin ? stdin : fopen(files[i], "rb");
        if (!in) { fprintf(stderr, "alog-engine: cannot open %s\n", files[i]); rc = -1; break; }
        struct stat st;
        double mtime = (double)time(NULL);
        if (!is_stdin && !fstat(fileno(in), &st)) {
            if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
                fprintf(stderr, "alog-engine: %s is not a regular file\n", files[i]);
                fclose(in);
                rc = -1;
                break;
            }
            mtime = (double)st.st_mtime;
        }
        rc = engine_run(e, in, is_stdin ? "<stdin>" : files[i], mtime, stdout, err, sizeof err);
        if (!is_stdin) fclose(in);
        if (rc) fprintf(stderr, "alog-engine: %s\n", err);
    }
    if (!rc && engine_finish(e, stdout, err, sizeof err)) { fprintf(stderr, "alog-engine: %s\n", err); rc = -1; }
    if (stats) engine_stats(e, stderr);
    fflush(stdout);
    long alerts = engine_alerts(e);
    engine_free(e);
    free(files);
    return rc ? 2 : alerts ? 1 : 0;
}
