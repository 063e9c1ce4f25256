/* Preloaded before libfaketime by `make test-dates`.
 *
 * Debian's libfaketime 0.9.10 cannot run a threaded Python 3.11 under a start date (`faketime -f '@...'`):
 * - with CLOCK_MONOTONIC faked (its default), a lock waited on with a timeout (threading, SQLAlchemy's
 *   pool, subprocess) never wakes: Python passes a faked monotonic deadline to sem_clockwait, which
 *   libfaketime does not intercept, so the kernel waits until the real clock reaches it;
 * - with FAKETIME_DONT_FAKE_MONOTONIC=1, time.sleep fails with EINVAL: libfaketime still shifts the
 *   absolute CLOCK_MONOTONIC deadline of clock_nanosleep by the fake offset, giving a negative time.
 * So the tests run with the monotonic clock real and this wrapper sends monotonic sleeps straight to the
 * kernel. Wall-clock time (CLOCK_REALTIME, what the code under test reads) stays faked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request, struct timespec *remain) {
    if (clock_id == CLOCK_MONOTONIC || clock_id == CLOCK_MONOTONIC_RAW || clock_id == CLOCK_BOOTTIME) {
        return syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
    }
    static clock_nanosleep_fn next;
    if (next == NULL) {
        next = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
    }
    return next(clock_id, flags, request, remain);
}
