/* header.h - splitting a line into header fields and message, for the presets the engine supports. */
#ifndef ALOG_HEADER_H
#define ALOG_HEADER_H

#include <stddef.h>

typedef enum { PRESET_RAW, PRESET_SYSLOG } preset_t;

typedef struct {
    const char *host, *process, *pid; /* NULL when absent (or empty) */
    size_t host_len, process_len, pid_len;
    const char *content;              /* the message: the rest of the line after the header */
    size_t content_len;
    int has_time;
    double time;                      /* seconds since the epoch (UTC, zone-less times read as UTC) */
    long long time_us;                /* the same in whole microseconds, exactly (a fraction cut after 6
                                       * digits, as parsing/timestamps.py does) */
} header_t;

typedef struct header_parser header_parser;

/* NULL with a message in err for an unknown or unsupported preset name. `ref_time`: the reference for
 * year-less syslog times (the file's modification time, or now); `year` > 0 forces the year. */
header_parser *header_new(const char *preset, double ref_time, int year, char *err, size_t errn);
void header_set_reference(header_parser *h, double ref_time);
preset_t header_preset(const header_parser *h);
/* Splits line s[0..n); pointers in *out point into s. Never fails: an unmatched line is all message. */
void header_split(header_parser *h, const char *s, size_t n, header_t *out);
void header_free(header_parser *h);
/* Seconds since 1970-01-01 of a civil UTC date and time; -1e18 when the date is invalid. */
double civil_seconds(int year, int month, int day, int hh, int mm, double ss);

#endif
