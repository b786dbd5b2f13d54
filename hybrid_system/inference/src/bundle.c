/* bundle.c - verified reads of the bundle's files (docs/bundle.md "What is refused"). */
#include "bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canon.h"
#include "sha256.h"

int bundle_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n < 2 || n > 101 || strstr(name, "..") || !strcmp(name, "metadata.json")) return 0;
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return 0;
    }
    static const char *ext[] = {".json", ".pth", ".onnx", ".npz"};
    for (size_t k = 0; k < 4; k++) {
        size_t e = strlen(ext[k]);
        /* the stem before the extension is 1..96 characters */
        if (n > e && n - e <= 96 && !strcmp(name + n - e, ext[k])) return 1;
    }
    return 0;
}

static const char *kind(mode_t m) {
    return S_ISLNK(m) ? "a symbolic link (links are refused)" : S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

/* Opens `path` without following a final link and without blocking (a FIFO never hangs), and checks
 * on the descriptor that it is a regular file. -1 with a message. */
static int open_regular(const char *path, struct stat *st, char *err, size_t errn) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat l;
        if (e == ELOOP || (!lstat(path, &l) && S_ISLNK(l.st_mode)))
            snprintf(err, errn, "%s: must be a regular file: a symbolic link (links are refused)", path);
        else snprintf(err, errn, "%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fd, st)) {
        snprintf(err, errn, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errn, "%s: must be a regular file: %s", path, kind(st->st_mode));
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads up to `want` bytes (and one more, to see growth) into buf; returns the count or -1. */
static long long read_all(int fd, char *buf, size_t want) {
    size_t got = 0;
    while (got <= want) {
        ssize_t r = read(fd, buf + got, want + 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

char *bundle_read_regular(const char *path, size_t limit, size_t *len, char *err, size_t errn) {
    struct stat st;
    int fd = open_regular(path, &st, err, errn);
    if (fd < 0) return NULL;
    if ((uint64_t)st.st_size > limit) {
        snprintf(err, errn, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, limit);
        close(fd);
        return NULL;
    }
    size_t want = (size_t)st.st_size;
    char *buf = malloc(want + 2);
    if (!buf) { snprintf(err, errn, "%s: out of memory", path); close(fd); return NULL; }
    long long got = read_all(fd, buf, want);
    close(fd);
    if (got != (long long)want) {
        snprintf(err, errn, "%s: %s while it was read", path, got < 0 ? "read error" : "changed size");
        free(buf);
        return NULL;
    }
    buf[want] = '\0';
    *len = want;
    return buf;
}

static long find(const manifest_t *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name)) return (long)i;
    return -1;
}

void manifest_free(manifest_t *m) {
    for (size_t i = 0; i < m->n; i++) free(m->names[i]);
    free(m->names);
    free(m->sha256);
    free(m->size);
    memset(m, 0, sizeof *m);
}

static int is_hex64(const char *s, size_t n) {
    if (n != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int metadata_verify(const char *dir, const json_value *meta, char *err, size_t errn) {
    if (!meta || meta->type != JSON_OBJECT) {
        snprintf(err, errn, "%s/metadata.json: not a JSON object (not an alog-detect bundle)", dir);
        return -1;
    }
    const json_value *sealed = json_get(meta, "metadata_sha256");
    char hex[65], why[200];
    if (canon_sha256(meta, "metadata_sha256", hex, why, sizeof why)) {
        snprintf(err, errn, "%s: metadata.json cannot be verified: %s", dir, why);
        return -1;
    }
    if (!sealed || sealed->type != JSON_STRING || sealed->len != 64 || strcmp(sealed->str, hex)) {
        snprintf(err, errn, "%s: metadata.json was modified after the bundle was written (metadata_sha256 mismatch)",
                 dir);
        return -1;
    }
    return 0;
}

int manifest_load(const char *dir, const json_value *meta, manifest_t *m, char *err, size_t errn) {
    memset(m, 0, sizeof *m);
    if (metadata_verify(dir, meta, err, errn)) return -1;
    const json_value *files = json_get(meta, "files");
    if (!files || files->type != JSON_OBJECT) {
        snprintf(err, errn, "%s/metadata.json: no `files` manifest (not an alog-detect bundle)", dir);
        return -1;
    }
    m->names = calloc(files->len + 1, sizeof(char *));
    m->sha256 = calloc(files->len + 1, sizeof *m->sha256);
    m->size = calloc(files->len + 1, sizeof(uint64_t));
    if (!m->names || !m->sha256 || !m->size) { snprintf(err, errn, "out of memory"); goto fail; }
    for (size_t i = 0; i < files->len; i++) {
        const char *name = files->keys[i];
        const json_value *e = &files->items[i], *h = json_get(e, "sha256"), *s = json_get(e, "size");
        if (!bundle_name_ok(name)) {
            snprintf(err, errn, "%s/metadata.json: invalid bundle file name '%.100s'", dir, name);
            goto fail;
        }
        if (!h || h->type != JSON_STRING || !is_hex64(h->str, h->len) || !s || s->type != JSON_NUMBER ||
            s->number < 0 || s->number > 9007199254740992.0 || s->number != (double)(uint64_t)s->number) {
            snprintf(err, errn, "%s/metadata.json: files.%s needs a sha256 (64 hex digits) and an integer size", dir, name);
            goto fail;
        }
        if (find(m, name) >= 0) { snprintf(err, errn, "%s/metadata.json: files.%s listed twice", dir, name); goto fail; }
        if (!(m->names[m->n] = strdup(name))) { snprintf(err, errn, "out of memory"); goto fail; }
        memcpy(m->sha256[m->n], h->str, 65);
        m->size[m->n++] = (uint64_t)s->number;
    }
    /* the folder: nothing the manifest lacks, nothing it lists missing, each entry a regular file */
    DIR *d = opendir(dir);
    if (!d) { snprintf(err, errn, "%s: cannot list the bundle folder: %s", dir, strerror(errno)); goto fail; }
    struct dirent *de;
    unsigned char *present = calloc(m->n + 1, 1);
    if (!present) { closedir(d); snprintf(err, errn, "out of memory"); goto fail; }
    int bad = 0;
    while (!bad && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "metadata.json")) continue;
        long k = find(m, de->d_name);
        if (k < 0) {
            snprintf(err, errn, "%s: unexpected file not in the manifest: %.200s", dir, de->d_name);
            bad = 1;
        } else present[k] = 1;
    }
    closedir(d);
    for (size_t i = 0; !bad && i < m->n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, m->names[i]);
        if (!present[i]) {
            snprintf(err, errn, "%s: missing file listed in the manifest: %s", dir, m->names[i]);
            bad = 1;
        } else if (lstat(path, &st)) {
            snprintf(err, errn, "%s: cannot stat: %s", path, strerror(errno));
            bad = 1;
        } else if (!S_ISREG(st.st_mode)) {
            snprintf(err, errn, "%s: must be a regular file: %s", path, kind(st.st_mode));
            bad = 1;
        } else if ((uint64_t)st.st_size != m->size[i]) {
            snprintf(err, errn, "%s: size %lld bytes, expected %llu (modified since the bundle was written)", path,
                     (long long)st.st_size, (unsigned long long)m->size[i]);
            bad = 1;
        }
    }
    free(present);
    if (bad) goto fail;
    return 0;
fail:
    manifest_free(m);
    return -1;
}

char *bundle_read(const char *dir, const manifest_t *m, const char *name, size_t limit, size_t *len, char *err,
                  size_t errn) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!bundle_name_ok(name)) { snprintf(err, errn, "%s: invalid bundle file name '%.100s'", dir, name); return NULL; }
    long k = find(m, name);
    if (k < 0) { snprintf(err, errn, "%s: not in the manifest of metadata.json (refused)", path); return NULL; }
    if (m->size[k] > limit) {
        snprintf(err, errn, "%s: recorded size %llu bytes, more than the %zu allowed", path,
                 (unsigned long long)m->size[k], limit);
        return NULL;
    }
    struct stat st;
    int fd = open_regular(path, &st, err, errn);
    if (fd < 0) return NULL;
    size_t want = (size_t)m->size[k];
    if ((uint64_t)st.st_size != m->size[k]) {
        snprintf(err, errn, "%s: size %lld bytes, expected %zu (modified since the bundle was written)", path,
                 (long long)st.st_size, want);
        close(fd);
        return NULL;
    }
    char *buf = malloc(want + 2);
    if (!buf) { snprintf(err, errn, "%s: out of memory", path); close(fd); return NULL; }
    long long got = read_all(fd, buf, want);
    close(fd);
    char hex[65];
    if (got != (long long)want) {
        snprintf(err, errn, "%s: %s while it was read", path, got < 0 ? "read error" : "changed size");
    } else if (sha256_hex(buf, want, hex), strcmp(hex, m->sha256[k])) {
        snprintf(err, errn, "%s: sha256 mismatch, the file was modified after the bundle was written", path);
    } else {
        buf[want] = '\0';
        *len = want;
        return buf;
    }
    free(buf);
    return NULL;
}
