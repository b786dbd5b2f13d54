/* bundle.h - the bundle's files read only as metadata.json's manifest (`files`) allows: each one a
 * regular file of the folder (O_NOFOLLOW, fstat S_ISREG), of its recorded size and sha256, read no
 * further than that size; the folder holds no file the manifest lacks and lacks none it lists. */
#ifndef ALOG_BUNDLE_H
#define ALOG_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define BUNDLE_MAX_METADATA ((size_t)16 << 20)

typedef struct {
    size_t n;
    char **names;
    char (*sha256)[65];
    uint64_t *size;
} manifest_t;

/* 1 when `name` is a component file name the bundle format allows ([a-z0-9][a-z0-9_.-]{0,95} then
 * .json/.pth/.onnx/.npz, no "..", not metadata.json), else 0. */
int bundle_name_ok(const char *name);
/* Reads a regular file, not following a final symbolic link, at most `limit` bytes, NUL-terminated.
 * NULL with a one-line reason in err. */
char *bundle_read_regular(const char *path, size_t limit, size_t *len, char *err, size_t errn);
/* Checks metadata.json's own seal: `metadata_sha256` (a string) equals the sha256 of the canonical
 * JSON of every other top-level member (canon.h), as bundle/manifest.py `seal` wrote it. 0, or -1 with
 * a message ("DIR: metadata.json was modified after the bundle was written (metadata_sha256 mismatch)"). */
int metadata_verify(const char *dir, const json_value *meta, char *err, size_t errn);
/* Verifies metadata.json first (metadata_verify), then fills `m` from its `files` and checks the
 * folder against it (no missing or extra entry; each listed one a regular file of the recorded size).
 * 0, or -1 with a message. */
int manifest_load(const char *dir, const json_value *meta, manifest_t *m, char *err, size_t errn);
/* The bytes of the listed file `name` (at most `limit`), verified against its size and sha256 as they
 * are read; NUL-terminated. NULL with a message naming the file. */
char *bundle_read(const char *dir, const manifest_t *m, const char *name, size_t limit, size_t *len, char *err,
                  size_t errn);
void manifest_free(manifest_t *m);

#endif
