/* scorer.h - DeepLog's verdict rule (hybrid_system/README.md "How Python scores") and the ONNX
 * Runtime session that computes the log-probabilities (loaded with dlopen + OrtGetApiBase). */
#ifndef ALOG_SCORER_H
#define ALOG_SCORER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    long k;              /* 0 = null */
    double top_p;        /* < 0 = null */
    double max_surprise; /* 30 */
} rule_t;

typedef struct {
    long rank;
    double prob, tail, surprise;
    int novel, hit;
} verdict_t;

/* Steps 2-6 for one window: `row` = the graph's float32 log-probabilities (N keys), `target` its
 * target, `novel` (target not in seen_keys), `seen_pair` (window + target is a row of seen_pairs),
 * `tau_w` the window's threshold. */
void verdict_compute(const float *row, size_t n, int target, int novel, int seen_pair, double tau_w,
                     const rule_t *rule, verdict_t *v);
/* numpy's pairwise summation (what ndarray.sum uses), so tails add up in Python's order. */
double pairwise_sum(const double *a, size_t n);
/* The `k` most likely keys of `row` (ties: lower key first) into out[0..k). */
void top_keys(const float *row, size_t n, size_t k, int *out);

typedef struct scorer scorer;

/* Loads `model` (the bytes of an .onnx file, `model_len` of them; copied by ORT) with the ONNX Runtime library `ort_lib`; `threads` intra-op threads
 * (0 = ORT's default). NULL with a message in err. */
scorer *scorer_new(const char *ort_lib, const void *model, size_t model_len, int threads, size_t vocab, char *err, size_t errn);
/* Log-probabilities of `n` windows of `len` keys (row-major int64) into out (n x vocab floats). */
int scorer_run(scorer *s, const int64_t *windows, size_t n, size_t len, float *out, char *err, size_t errn);
void scorer_free(scorer *s);

#endif
