/* A delay shim for the race tests, loaded with LD_PRELOAD: it makes one system call of the
 * process wait, so that a race window the tests want to hit is wide open, every time.
 *
 * Configured by the environment, read at each call:
 *   SHIM_CALL    the call to delay: open (open, open64, openat, openat64), chdir, fork, or
 *                fstat (statx on a descriptor, as Rust's File::metadata calls it), or
 *                unlock (flock with LOCK_UN: the window in which a lock is still held), or
 *                send (`send` or `write`: std's `UnixDatagram::send` is a `write`)
 *   SHIM_PATH    only calls whose path contains this string (open, chdir), or whose
 *                message's first 255 bytes do (send)
 *   SHIM_RDONLY  only opens for reading alone (O_RDONLY)
 *   SHIM_NTH     only the Nth matching call of the process (counted across forks, from 1)
 *   SHIM_MS      how long to wait, in milliseconds
 *   SHIM_MARK    a file created when the wait begins, for the test to know the window is open;
 *                it holds the PID of the process that waits
 *   SHIM_AFTER   fork only: wait after the call, in the parent, rather than before it (the
 *                window between a fork and what its parent does next)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int matched;

static void delay(const char *call, const char *path, int flags, int has_flags) {
    const char *want = getenv("SHIM_CALL");
    if (!want || strcmp(want, call) != 0) return;
    const char *part = getenv("SHIM_PATH");
    if (part && (!path || !strstr(path, part))) return;
    if (getenv("SHIM_RDONLY") && (!has_flags || (flags & O_ACCMODE) != O_RDONLY)) return;
    matched++;
    const char *nth = getenv("SHIM_NTH");
    if (nth && matched != atoi(nth)) return;
    const char *mark = getenv("SHIM_MARK");
    if (mark) {
        /* The raw system call: this shim's own open must not be delayed or counted. */
        /* Written under another name, then renamed: the mark appears with its content. */
        char tmp[4096], pid[32];
        snprintf(tmp, sizeof tmp, "%s.tmp", mark);
        int fd = (int)syscall(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
            if (write(fd, pid, (size_t)n) < 0) {}
            close(fd);
            rename(tmp, mark);
        }
    }
    const char *ms = getenv("SHIM_MS");
    long n = ms ? atol(ms) : 0;
    struct timespec t = { n / 1000, (n % 1000) * 1000000L };
    while (nanosleep(&t, &t) == -1) {}
}

#define NEXT(name, type) static type real; if (!real) real = (type)dlsym(RTLD_NEXT, name)

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*chdir_fn)(const char *);
typedef pid_t (*fork_fn)(void);
struct statx;
typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);
typedef int (*flock_fn)(int, int);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static mode_t mode_of(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_of(flags, ap); va_end(ap);
    NEXT("open", open_fn);
    delay("open", path, flags, 1);
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_of(flags, ap); va_end(ap);
    NEXT("open64", open_fn);
    delay("open", path, flags, 1);
    return real(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_of(flags, ap); va_end(ap);
    NEXT("openat", openat_fn);
    delay("open", path, flags, 1);
    return real(dir, path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = mode_of(flags, ap); va_end(ap);
    NEXT("openat64", openat_fn);
    delay("open", path, flags, 1);
    return real(dir, path, flags, mode);
}

int chdir(const char *path) {
    NEXT("chdir", chdir_fn);
    delay("chdir", path, 0, 0);
    return real(path);
}

pid_t fork(void) {
    NEXT("fork", fork_fn);
    if (!getenv("SHIM_AFTER")) {
        delay("fork", NULL, 0, 0);
        return real();
    }
    pid_t pid = real();
    const char *want = getenv("SHIM_CALL");
    if (pid == 0 && want && strcmp(want, "fork") == 0) {
        matched++; /* the child counts this fork too, as it would have before the call */
    } else if (pid > 0) {
        delay("fork", NULL, 0, 0);
    }
    return pid;
}

int flock(int fd, int op) {
    NEXT("flock", flock_fn);
    if (op == LOCK_UN) delay("unlock", NULL, 0, 0);
    return real(fd, op);
}

int statx(int dir, const char *path, int flags, unsigned int mask, struct statx *buf) {
    NEXT("statx", statx_fn);
    if (flags & AT_EMPTY_PATH) delay("fstat", NULL, 0, 0);
    return real(dir, path, flags, mask, buf);
}

static void delay_message(const void *buf, size_t len) {
    const char *want = getenv("SHIM_CALL");
    if (!want || strcmp(want, "send") != 0) return;
    char text[256];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, buf, n);
    text[n] = 0;
    delay("send", text, 0, 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
    NEXT("send", send_fn);
    delay_message(buf, len);
    return real(fd, buf, len, flags);
}

ssize_t write(int fd, const void *buf, size_t len) {
    NEXT("write", write_fn);
    delay_message(buf, len);
    return real(fd, buf, len);
}
