/* npz.h - reading deeplog_seen_pairs.npz (one stored member seen_pairs.npy, '<i4', C order). */
#ifndef ALOG_NPZ_H
#define ALOG_NPZ_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"

/* The rows (n x (L + 1) int32) of the listed bundle file `name`, verified against the manifest; 0, or
 * -1 with a message. *pairs is malloc'ed. */
int npz_load_pairs(const char *dir, const manifest_t *files, const char *name, size_t L, int32_t **pairs,
                   size_t *npairs, char *err, size_t errn);

#endif
