/* npz.c - deeplog_seen_pairs.npz of a bundle: the (window, next key) pairs of the training log. */
#include "npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NPZ ((size_t)16 << 30)

/* deeplog_seen_pairs.npz: a stored zip member seen_pairs.npy, '<i4', C order, shape (n, L + 1). */
int npz_load_pairs(const char *dir, const manifest_t *files, const char *name, size_t L, int32_t **pairs,
                   size_t *npairs, char *err, size_t errn) {
    size_t n;
    unsigned char *z = (unsigned char *)bundle_read(dir, files, name, MAX_NPZ, &n, err, errn);
    if (!z) return -1;
    const char *path = name;
    int rc = -1;
    if (n < 30 || memcmp(z, "PK\3\4", 4)) { snprintf(err, errn, "%s: not a zip archive", path); goto done; }
    unsigned method = z[8] | z[9] << 8;
    size_t csize = (size_t)z[18] | (size_t)z[19] << 8 | (size_t)z[20] << 16 | (size_t)z[21] << 24;
    size_t namelen = z[26] | z[27] << 8, extra = z[28] | z[29] << 8;
    size_t at = 30 + namelen + extra;
    if (method != 0 || at > n || namelen != 14 || memcmp(z + 30, "seen_pairs.npy", 14)) {
        snprintf(err, errn, "%s: expected one stored member seen_pairs.npy", path);
        goto done;
    }
    if (csize == 0xFFFFFFFFu) csize = n - at; /* zip64: the data runs to the central directory */
    if (csize > n - at || csize < 10 || memcmp(z + at, "\x93NUMPY", 6)) {
        snprintf(err, errn, "%s: seen_pairs.npy is not a NumPy file", path);
        goto done;
    }
    unsigned major = z[at + 6];
    size_t hl, hstart;
    if (major == 1) { hl = z[at + 8] | z[at + 9] << 8; hstart = at + 10; }
    else { hl = (size_t)z[at + 8] | (size_t)z[at + 9] << 8 | (size_t)z[at + 10] << 16 | (size_t)z[at + 11] << 24; hstart = at + 12; }
    if (hstart + hl > n) { snprintf(err, errn, "%s: truncated header", path); goto done; }
    char hdr[512];
    size_t cp = hl < sizeof hdr - 1 ? hl : sizeof hdr - 1;
    memcpy(hdr, z + hstart, cp);
    hdr[cp] = '\0';
    char *shape = strstr(hdr, "'shape': (");
    long rows = -1, cols = -1;
    if (!strstr(hdr, "'descr': '<i4'") || !strstr(hdr, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%ld, %ld)", &rows, &cols) != 2 || cols != (long)L + 1 || rows < 0) {
        snprintf(err, errn, "%s: expected '<i4' C-order rows of %zu keys, header %s", path, L + 1, hdr);
        goto done;
    }
    size_t bytes = (size_t)rows * (size_t)cols * 4;
    if (hstart + hl + bytes > n) { snprintf(err, errn, "%s: truncated data", path); goto done; }
    *pairs = malloc(bytes ? bytes : 4);
    if (!*pairs) { snprintf(err, errn, "out of memory"); goto done; }
    memcpy(*pairs, z + hstart + hl, bytes); /* little-endian host assumed (x86-64, arm64) */
    *npairs = (size_t)rows;
    rc = 0;
done:
    free(z);
    return rc;
}

