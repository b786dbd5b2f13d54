/* sha256.h - SHA-256 (FIPS 180-4), streamed; used to verify the bundle's files against metadata.json. */
#ifndef ALOG_SHA256_H
#define ALOG_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;          /* message length so far */
    unsigned char block[64];
    size_t fill;             /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char digest[32]);
/* The lower-case hex digest of `n` bytes into hex[65] (NUL-terminated). */
void sha256_hex(const void *data, size_t n, char hex[65]);

#endif
