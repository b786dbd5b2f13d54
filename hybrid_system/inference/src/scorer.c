/* scorer.c - the verdict arithmetic (in float64 from the graph's float32, as DeepLogOnnx does) and the
 * ONNX Runtime C API: one OrtEnv, one session, every OrtStatus checked, everything released. */
#include "scorer.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnxruntime_c_api.h"

#define PW_BLOCKSIZE 128

double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.0; /* numpy starts from -0.0 only for empty float reductions; 0.0 + x == x */
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= PW_BLOCKSIZE) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

void verdict_compute(const float *row, size_t n, int target, int novel, int seen_pair, double tau_w,
                     const rule_t *rule, verdict_t *v) {
    double t = (double)row[target];
    long above = 0;
    double stack[1024];
    double *terms = n <= 1024 ? stack : malloc(n * sizeof(double));
    double tail;
    if (terms) {
        for (size_t j = 0; j < n; j++) {
            double lp = (double)row[j];
            if (lp > t) { above++; terms[j] = 0.0; } else terms[j] = exp(lp);
        }
        /* ndarray.sum(axis=1) starts from the first element and adds the pairwise sum of the rest */
        tail = n ? terms[0] + pairwise_sum(terms + 1, n - 1) : 0.0;
        if (terms != stack) free(terms);
    } else { /* out of memory: sequential sum (last-bit differences only) */
        tail = 0.0;
        for (size_t j = 0; j < n; j++) {
            double lp = (double)row[j];
            if (lp > t) above++; else tail += exp(lp);
        }
    }
    v->rank = above + 1;
    v->prob = exp(t);
    v->tail = tail;
    double s = -log10(tail > 1e-30 ? tail : 1e-30);
    v->surprise = s < rule->max_surprise ? s : rule->max_surprise;
    v->novel = novel;
    if (novel) v->surprise = rule->max_surprise;
    int hit = 1;
    if (rule->k > 0 && v->rank > rule->k) hit = 0;
    if (rule->top_p >= 0 && !(1.0 - tail < rule->top_p)) hit = 0;
    if (rule->k <= 0 && rule->top_p < 0 && !(v->surprise <= tau_w)) hit = 0;
    hit = (hit || seen_pair) && !novel;
    v->hit = hit;
}

void top_keys(const float *row, size_t n, size_t k, int *out) {
    for (size_t i = 0; i < k; i++) out[i] = -1;
    for (size_t j = 0; j < n; j++) {
        /* insert j if it beats the current k-th (strictly greater: ties keep the lower key first) */
        size_t pos = k;
        while (pos > 0 && (out[pos - 1] < 0 || row[j] > row[out[pos - 1]])) pos--;
        if (pos >= k) continue;
        for (size_t m = k - 1; m > pos; m--) out[m] = out[m - 1];
        out[pos] = (int)j;
    }
}

struct scorer {
    void *lib;
    const OrtApi *api;
    OrtEnv *env;
    OrtSessionOptions *opts;
    OrtSession *session;
    OrtMemoryInfo *mem;
    size_t vocab;
};

static int check(scorer *s, OrtStatus *st, const char *what, char *err, size_t errn) {
    if (!st) return 0;
    snprintf(err, errn, "ONNX Runtime: %s: %s", what, s->api->GetErrorMessage(st));
    s->api->ReleaseStatus(st);
    return -1;
}

scorer *scorer_new(const char *ort_lib, const void *model, size_t model_len, int threads, size_t vocab, char *err, size_t errn) {
    scorer *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errn, "out of memory"); return NULL; }
    s->vocab = vocab;
    s->lib = dlopen(ort_lib, RTLD_NOW | RTLD_LOCAL);
    if (!s->lib) {
        snprintf(err, errn, "cannot load ONNX Runtime %s: %s", ort_lib, dlerror());
        goto fail;
    }
    const OrtApiBase *(*get_base)(void);
    *(void **)&get_base = dlsym(s->lib, "OrtGetApiBase");
    if (!get_base) { snprintf(err, errn, "%s has no OrtGetApiBase", ort_lib); goto fail; }
    s->api = get_base()->GetApi(ORT_API_VERSION);
    if (!s->api) {
        snprintf(err, errn, "ONNX Runtime %s does not offer C API %d (the headers' version): use a runtime "
                 ">= the headers", get_base()->GetVersionString(), ORT_API_VERSION);
        goto fail;
    }
    if (check(s, s->api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "alog-engine", &s->env), "CreateEnv", err, errn)) goto fail;
    if (check(s, s->api->CreateSessionOptions(&s->opts), "CreateSessionOptions", err, errn)) goto fail;
    if (threads > 0) {
        if (check(s, s->api->SetIntraOpNumThreads(s->opts, threads), "SetIntraOpNumThreads", err, errn)) goto fail;
        if (check(s, s->api->SetInterOpNumThreads(s->opts, 1), "SetInterOpNumThreads", err, errn)) goto fail;
    }
    if (check(s, s->api->CreateSessionFromArray(s->env, model, model_len, s->opts, &s->session), "CreateSession", err, errn)) goto fail;
    if (check(s, s->api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &s->mem), "CreateCpuMemoryInfo",
              err, errn))
        goto fail;
    return s;
fail:
    scorer_free(s);
    return NULL;
}

int scorer_run(scorer *s, const int64_t *windows, size_t n, size_t len, float *out, char *err, size_t errn) {
    if (n == 0) return 0;
    int64_t shape[2] = {(int64_t)n, (int64_t)len};
    OrtValue *input = NULL, *output = NULL;
    int rc = -1;
    const char *in_names[] = {"input_sequence"}, *out_names[] = {"log_probs"};
    if (check(s, s->api->CreateTensorWithDataAsOrtValue(s->mem, (void *)windows, n * len * sizeof(int64_t), shape, 2,
                                                        ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &input),
              "CreateTensor", err, errn))
        return -1;
    if (check(s, s->api->Run(s->session, NULL, in_names, (const OrtValue *const *)&input, 1, out_names, 1, &output),
              "Run", err, errn))
        goto done;
    OrtTensorTypeAndShapeInfo *info = NULL;
    if (check(s, s->api->GetTensorTypeAndShape(output, &info), "GetTensorTypeAndShape", err, errn)) goto done;
    size_t dims = 0;
    int64_t d[2] = {0, 0};
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    OrtStatus *st = s->api->GetDimensionsCount(info, &dims);
    if (!st && dims == 2) st = s->api->GetDimensions(info, d, 2);
    if (!st) st = s->api->GetTensorElementType(info, &type);
    s->api->ReleaseTensorTypeAndShapeInfo(info);
    if (check(s, st, "output shape", err, errn)) goto done;
    if (dims != 2 || d[0] != (int64_t)n || d[1] != (int64_t)s->vocab || type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
        snprintf(err, errn, "the graph returned %zu-d output (%lld x %lld), expected float32 %zu x %zu", dims,
                 (long long)d[0], (long long)d[1], n, s->vocab);
        goto done;
    }
    void *data = NULL;
    if (check(s, s->api->GetTensorMutableData(output, &data), "GetTensorMutableData", err, errn)) goto done;
    memcpy(out, data, n * s->vocab * sizeof(float));
    rc = 0;
done:
    if (output) s->api->ReleaseValue(output);
    s->api->ReleaseValue(input);
    return rc;
}

void scorer_free(scorer *s) {
    if (!s) return;
    if (s->api) {
        if (s->mem) s->api->ReleaseMemoryInfo(s->mem);
        if (s->session) s->api->ReleaseSession(s->session);
        if (s->opts) s->api->ReleaseSessionOptions(s->opts);
        if (s->env) s->api->ReleaseEnv(s->env);
    }
    if (s->lib) dlclose(s->lib);
    free(s);
}
