/* check.h - the counters and the CHECK macro shared by the C unit tests (test_engine.c, test_alerts.c),
 * and the test parts test_engine's main runs from the other files. */
#ifndef ALOG_TESTS_CHECK_H
#define ALOG_TESTS_CHECK_H

#include <stdio.h>

extern int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) passed++;                                                \
        else {                                                             \
            failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* test_alerts.c: the alert rules on hand-built prediction streams, and `test_engine --alerts` */
void test_alerts(void);
int alerts_main(char **argv);

#endif
