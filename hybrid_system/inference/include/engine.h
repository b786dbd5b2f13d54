/* engine.h - a loaded bundle and the line-by-line detection loop. */
#ifndef ALOG_ENGINE_H
#define ALOG_ENGINE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *bundle;      /* the bundle folder (convert-onnx output) */
    const char *ort_lib;     /* libonnxruntime.so path */
    const char *format;      /* NULL = the bundle's parser format */
    int threads;             /* ORT intra-op threads (0 = default) */
    int all;                 /* print every line, not only alerts */
    size_t batch;            /* windows per ORT call */
    size_t cache;            /* windows kept scored */
    int year;                /* > 0: year of year-less syslog times */
} engine_opts;

typedef struct engine engine;

engine *engine_new(const engine_opts *o, char *err, size_t errn);
/* Reads lines from `in` (name `source` for sessions by source and for the reference year: `mtime`),
 * writes JSON lines to `out`. 0, or -1 with a message in err. */
int engine_run(engine *e, FILE *in, const char *source, double mtime, FILE *out, char *err, size_t errn);
/* Counts of the last run, as one JSON object (lines, alerts, windows scored, cache hits...). */
void engine_stats(const engine *e, FILE *out);
long engine_alerts(const engine *e);
void engine_free(engine *e);

#endif
