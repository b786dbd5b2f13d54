/* engine.h - a loaded bundle and the line-by-line detection loop. */
#ifndef ALOG_ENGINE_H
#define ALOG_ENGINE_H

#include <stddef.h>
#include <stdio.h>

#include "alerts.h"

/* what is printed: one JSON line per alert (the alert rules), per miss, or per line */
enum { OUTPUT_ALERTS, OUTPUT_MISSES, OUTPUT_ALL };

typedef struct {
    const char *bundle;      /* the bundle folder (convert-onnx output) */
    const char *ort_lib;     /* libonnxruntime.so path */
    const char *format;      /* NULL = the bundle's parser format */
    int threads;             /* ORT intra-op threads (0 = default) */
    int output;              /* OUTPUT_ALERTS, OUTPUT_MISSES, OUTPUT_ALL */
    alert_settings alert;    /* overrides of the bundle's alert settings: k, n > 0, cooldowns >= 0,
                              * timeout > 0 count; others (-1) keep the bundle's */
    size_t batch;            /* windows per ORT call */
    size_t cache;            /* windows kept scored */
    int year;                /* > 0: year of year-less syslog times */
} engine_opts;

typedef struct engine engine;

engine *engine_new(const engine_opts *o, char *err, size_t errn);
/* Reads lines from `in` (name `source` for sessions by source and for the reference year: `mtime`),
 * writes JSON lines to `out`. 0, or -1 with a message in err. */
int engine_run(engine *e, FILE *in, const char *source, double mtime, FILE *out, char *err, size_t errn);
/* After the last input: writes the alerts (OUTPUT_ALERTS), in log order of their opening firing, as
 * one JSON line each. 0, or -1 with a message. */
int engine_finish(engine *e, FILE *out, char *err, size_t errn);
/* Counts so far, as JSON objects (lines, misses, windows scored...; the alert rules' counts). */
void engine_stats(const engine *e, FILE *out);
long engine_alerts(const engine *e); /* alerts (OUTPUT_ALERTS), else misses */
void engine_free(engine *e);

#endif
