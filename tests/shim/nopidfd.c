/* A shim, loaded with LD_PRELOAD, for a kernel or a seccomp filter without pidfd_open(2):
 * the call fails with ENOSYS, as on Linux before 5.3. Every other syscall(2) goes through.
 * NOPIDFD_MARK, when set, names a file created at the first refusal, so that a test knows
 * the fallback ran.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_pidfd_open) {
        const char *mark = getenv("NOPIDFD_MARK");
        if (mark) {
            int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) close(fd);
        }
        errno = ENOSYS;
        return -1;
    }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
