/*
 * storage-faults.c: an LD_PRELOAD shim that makes the storage under one directory
 * misbehave, and the wall clock jump, while a test switches it on and off at runtime.
 * Used by Tests/Interop/test_storage_faults.py (OPERATIONS.md, "Faults from below"),
 * which compiles it with `gcc -shared -fPIC -O2 -o storage-faults.so storage-faults.c -ldl`.
 *
 * Environment (each optional; without it that part of the shim does nothing):
 *
 *   WARDEN_FAULT_DIR      Files under this directory (the SQLite file, its -wal, -shm and
 *                         -journal) are the ones storage faults apply to. Other files,
 *                         sockets, pipes and standard output are never touched.
 *   WARDEN_FAULT_CONTROL  A file whose first line selects the storage fault, read on every
 *                         call that may fault (a missing or empty file: no fault):
 *                           enospc          the disk is full: write, pwrite, writev and
 *                                           fallocate fail with ENOSPC (fsync still works,
 *                                           as on a real full disk once data is written)
 *                           erofs           the file system is read-only: opening for
 *                                           writing, writing, fsync, fdatasync, ftruncate,
 *                                           fallocate and unlink fail with EROFS
 *                           slow-fsync:MS   fsync and fdatasync take MS milliseconds longer
 *   WARDEN_FAULT_CLOCK    A file holding a wall-clock offset in seconds ("+600", "-600",
 *                         "0"), added to CLOCK_REALTIME(_COARSE) readings, gettimeofday and
 *                         time. Re-read at most every 10 ms, so the clock jumps when the
 *                         test rewrites it. Monotonic clocks are never changed, so timers
 *                         and timeouts in the process are unaffected.
 *
 * An fd is "under the directory" when /proc/self/fd/N, read right after an open that
 * returned N, names a file under WARDEN_FAULT_DIR; the answer is cached per fd until
 * the fd is closed (or replaced by dup2/dup3). The control and clock files are read with
 * raw system calls, so the shim never recurses into itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED_FD 65536

enum fault { FAULT_NONE, FAULT_ENOSPC, FAULT_EROFS, FAULT_SLOW_FSYNC };

static char fault_dir[PATH_MAX];
static size_t fault_dir_length;
static const char *control_path;
static const char *clock_path;
/* 1: the fd is a file under fault_dir. */
static _Atomic unsigned char tracked[MAX_TRACKED_FD];

static atomic_llong clock_offset_ns;
static atomic_llong clock_checked_ns = -1;

/* -- the real functions ------------------------------------------------------------------ */

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
#define RESOLVE(name) \
    do { if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name); } while (0)

DECLARE_REAL(int, open, const char *, int, ...);
DECLARE_REAL(int, open64, const char *, int, ...);
DECLARE_REAL(int, openat, int, const char *, int, ...);
DECLARE_REAL(int, openat64, int, const char *, int, ...);
DECLARE_REAL(int, __open_2, const char *, int);
DECLARE_REAL(int, __open64_2, const char *, int);
DECLARE_REAL(int, creat, const char *, mode_t);
DECLARE_REAL(int, creat64, const char *, mode_t);
DECLARE_REAL(int, close, int);
DECLARE_REAL(int, dup2, int, int);
DECLARE_REAL(int, dup3, int, int, int);
DECLARE_REAL(ssize_t, write, int, const void *, size_t);
DECLARE_REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
DECLARE_REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t);
DECLARE_REAL(ssize_t, writev, int, const struct iovec *, int);
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t);
DECLARE_REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int);
DECLARE_REAL(int, fsync, int);
DECLARE_REAL(int, fdatasync, int);
DECLARE_REAL(int, ftruncate, int, off_t);
DECLARE_REAL(int, ftruncate64, int, off64_t);
DECLARE_REAL(int, fallocate, int, int, off_t, off_t);
DECLARE_REAL(int, fallocate64, int, int, off64_t, off64_t);
DECLARE_REAL(int, posix_fallocate, int, off_t, off_t);
DECLARE_REAL(int, posix_fallocate64, int, off64_t, off64_t);
DECLARE_REAL(int, unlink, const char *);
DECLARE_REAL(int, unlinkat, int, const char *, int);
DECLARE_REAL(int, clock_gettime, clockid_t, struct timespec *);
DECLARE_REAL(int, gettimeofday, struct timeval *, void *);
DECLARE_REAL(time_t, time, time_t *);

__attribute__((constructor)) static void storage_faults_init(void) {
    const char *dir = getenv("WARDEN_FAULT_DIR");
    if (dir && *dir && realpath(dir, fault_dir)) {
        fault_dir_length = strlen(fault_dir);
        while (fault_dir_length > 1 && fault_dir[fault_dir_length - 1] == '/') fault_dir[--fault_dir_length] = 0;
    }
    const char *control = getenv("WARDEN_FAULT_CONTROL");
    if (control && *control) control_path = strdup(control);
    const char *clock = getenv("WARDEN_FAULT_CLOCK");
    if (clock && *clock) clock_path = strdup(clock);
}

/* -- helpers ------------------------------------------------------------------------------ */

/* The first line of `path` into buffer (NUL-terminated, possibly empty), with raw syscalls. */
static void read_small_file(const char *path, char *buffer, size_t size) {
    buffer[0] = 0;
    if (!path) return;
    int saved = errno;
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        long n = syscall(SYS_read, (int)fd, buffer, size - 1);
        syscall(SYS_close, (int)fd);
        buffer[n > 0 ? n : 0] = 0;
        char *newline = strpbrk(buffer, "\r\n");
        if (newline) *newline = 0;
    }
    errno = saved;
}

static enum fault current_fault(long *milliseconds) {
    if (!control_path || !fault_dir_length) return FAULT_NONE;
    char text[64];
    read_small_file(control_path, text, sizeof text);
    if (strcmp(text, "enospc") == 0) return FAULT_ENOSPC;
    if (strcmp(text, "erofs") == 0) return FAULT_EROFS;
    if (strncmp(text, "slow-fsync:", 11) == 0) {
        if (milliseconds) *milliseconds = strtol(text + 11, NULL, 10);
        return FAULT_SLOW_FSYNC;
    }
    return FAULT_NONE;
}

static int is_under_fault_dir(const char *canonical) {
    return fault_dir_length && strncmp(canonical, fault_dir, fault_dir_length) == 0 &&
           (canonical[fault_dir_length] == '/' || canonical[fault_dir_length] == 0);
}

/* Records whether a freshly opened fd is a file under the fault directory. */
static void track(int fd) {
    if (fd < 0 || fd >= MAX_TRACKED_FD) return;
    unsigned char under = 0;
    if (fault_dir_length) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        int saved = errno;
        long n = syscall(SYS_readlinkat, AT_FDCWD, link, target, sizeof target - 1);
        errno = saved;
        if (n > 0) {
            target[n] = 0;
            under = (unsigned char)is_under_fault_dir(target);
        }
    }
    atomic_store(&tracked[fd], under);
}

static void untrack(int fd) {
    if (fd >= 0 && fd < MAX_TRACKED_FD) atomic_store(&tracked[fd], 0);
}

static int is_tracked(int fd) {
    return fd >= 0 && fd < MAX_TRACKED_FD && atomic_load(&tracked[fd]);
}

/* Whether `path` (relative to dirfd) is, or would be created, under the fault directory:
 * its parent directory resolved, plus its last component. */
static int path_under_fault_dir(int dirfd, const char *path) {
    if (!fault_dir_length || !path) return 0;
    char joined[PATH_MAX * 2], parent[PATH_MAX * 2], resolved[PATH_MAX];
    if (path[0] == '/') {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            long n = syscall(SYS_readlinkat, AT_FDCWD, link, base, sizeof base - 1);
            if (n <= 0) return 0;
            base[n] = 0;
        }
        snprintf(joined, sizeof joined, "%s/%s", base, path);
    }
    snprintf(parent, sizeof parent, "%s", joined);
    char *slash = strrchr(parent, '/');
    if (!slash) return 0;
    if (slash == parent) slash[1] = 0; else *slash = 0;
    int saved = errno;
    char *ok = realpath(parent, resolved);
    errno = saved;
    if (!ok) return 0;
    return is_under_fault_dir(resolved);
}

static int opens_for_writing(int flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

/* -1 with errno set when the fault forbids opening `path` this way. */
static int refuse_open(int dirfd, const char *path, int flags) {
    if (!opens_for_writing(flags) || !control_path) return 0;
    if (current_fault(NULL) != FAULT_EROFS || !path_under_fault_dir(dirfd, path)) return 0;
    errno = EROFS;
    return -1;
}

/* Writing to fd: 0 to go on, or -1 with errno set. */
static int refuse_write(int fd) {
    if (!is_tracked(fd)) return 0;
    switch (current_fault(NULL)) {
    case FAULT_ENOSPC: errno = ENOSPC; return -1;
    case FAULT_EROFS: errno = EROFS; return -1;
    default: return 0;
    }
}

/* Syncing fd: 0 to go on (after the slow-fsync delay), or -1 with errno set. */
static int before_sync(int fd) {
    if (!is_tracked(fd)) return 0;
    long milliseconds = 0;
    switch (current_fault(&milliseconds)) {
    case FAULT_EROFS: errno = EROFS; return -1;
    case FAULT_SLOW_FSYNC:
        if (milliseconds > 0) {
            struct timespec delay = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
            while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {}
        }
        return 0;
    default: return 0;
    }
}

/* ftruncate and fallocate: fail on a read-only file system; fallocate also on a full disk. */
static int refuse_resize(int fd, int grows) {
    if (!is_tracked(fd)) return 0;
    enum fault fault = current_fault(NULL);
    if (fault == FAULT_EROFS) { errno = EROFS; return -1; }
    if (fault == FAULT_ENOSPC && grows) { errno = ENOSPC; return -1; }
    return 0;
}

/* -- opening and closing ------------------------------------------------------------------ */

/* The mode argument is there only when the flags need one (glibc's __OPEN_NEEDS_MODE). */
#define OPEN_MODE(flags) \
    mode_t mode = 0; \
    if (((flags) & O_CREAT) || ((flags) & __O_TMPFILE) == __O_TMPFILE) { \
        va_list args; va_start(args, flags); mode = va_arg(args, mode_t); va_end(args); \
    }

int open(const char *path, int flags, ...) {
    OPEN_MODE(flags);
    RESOLVE(open);
    if (refuse_open(AT_FDCWD, path, flags)) return -1;
    int fd = real_open(path, flags, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int open64(const char *path, int flags, ...) {
    OPEN_MODE(flags);
    RESOLVE(open64);
    if (refuse_open(AT_FDCWD, path, flags)) return -1;
    int fd = real_open64(path, flags, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...) {
    OPEN_MODE(flags);
    RESOLVE(openat);
    if (refuse_open(dirfd, path, flags)) return -1;
    int fd = real_openat(dirfd, path, flags, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...) {
    OPEN_MODE(flags);
    RESOLVE(openat64);
    if (refuse_open(dirfd, path, flags)) return -1;
    int fd = real_openat64(dirfd, path, flags, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int __open_2(const char *path, int flags) {
    RESOLVE(__open_2);
    if (refuse_open(AT_FDCWD, path, flags)) return -1;
    int fd = real___open_2(path, flags);
    if (fd >= 0) track(fd);
    return fd;
}

int __open64_2(const char *path, int flags) {
    RESOLVE(__open64_2);
    if (refuse_open(AT_FDCWD, path, flags)) return -1;
    int fd = real___open64_2(path, flags);
    if (fd >= 0) track(fd);
    return fd;
}

int creat(const char *path, mode_t mode) {
    RESOLVE(creat);
    if (refuse_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC)) return -1;
    int fd = real_creat(path, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int creat64(const char *path, mode_t mode) {
    RESOLVE(creat64);
    if (refuse_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC)) return -1;
    int fd = real_creat64(path, mode);
    if (fd >= 0) track(fd);
    return fd;
}

int close(int fd) {
    RESOLVE(close);
    untrack(fd);
    return real_close(fd);
}

int dup2(int old, int new) {
    RESOLVE(dup2);
    int fd = real_dup2(old, new);
    if (fd >= 0) track(fd);
    return fd;
}

int dup3(int old, int new, int flags) {
    RESOLVE(dup3);
    int fd = real_dup3(old, new, flags);
    if (fd >= 0) track(fd);
    return fd;
}

int unlink(const char *path) {
    RESOLVE(unlink);
    if (control_path && current_fault(NULL) == FAULT_EROFS && path_under_fault_dir(AT_FDCWD, path)) {
        errno = EROFS;
        return -1;
    }
    return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
    RESOLVE(unlinkat);
    if (control_path && current_fault(NULL) == FAULT_EROFS && path_under_fault_dir(dirfd, path)) {
        errno = EROFS;
        return -1;
    }
    return real_unlinkat(dirfd, path, flags);
}

/* -- writing and syncing ------------------------------------------------------------------ */

ssize_t write(int fd, const void *buffer, size_t count) {
    RESOLVE(write);
    if (refuse_write(fd)) return -1;
    return real_write(fd, buffer, count);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    RESOLVE(pwrite);
    if (refuse_write(fd)) return -1;
    return real_pwrite(fd, buffer, count, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off64_t offset) {
    RESOLVE(pwrite64);
    if (refuse_write(fd)) return -1;
    return real_pwrite64(fd, buffer, count, offset);
}

ssize_t writev(int fd, const struct iovec *vector, int count) {
    RESOLVE(writev);
    if (refuse_write(fd)) return -1;
    return real_writev(fd, vector, count);
}

ssize_t pwritev(int fd, const struct iovec *vector, int count, off_t offset) {
    RESOLVE(pwritev);
    if (refuse_write(fd)) return -1;
    return real_pwritev(fd, vector, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec *vector, int count, off64_t offset) {
    RESOLVE(pwritev64);
    if (refuse_write(fd)) return -1;
    return real_pwritev64(fd, vector, count, offset);
}

ssize_t pwritev2(int fd, const struct iovec *vector, int count, off_t offset, int flags) {
    RESOLVE(pwritev2);
    if (refuse_write(fd)) return -1;
    return real_pwritev2(fd, vector, count, offset, flags);
}

int fsync(int fd) {
    RESOLVE(fsync);
    if (before_sync(fd)) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    RESOLVE(fdatasync);
    if (before_sync(fd)) return -1;
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t length) {
    RESOLVE(ftruncate);
    if (refuse_resize(fd, 0)) return -1;
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off64_t length) {
    RESOLVE(ftruncate64);
    if (refuse_resize(fd, 0)) return -1;
    return real_ftruncate64(fd, length);
}

int fallocate(int fd, int mode, off_t offset, off_t length) {
    RESOLVE(fallocate);
    if (refuse_resize(fd, 1)) return -1;
    return real_fallocate(fd, mode, offset, length);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t length) {
    RESOLVE(fallocate64);
    if (refuse_resize(fd, 1)) return -1;
    return real_fallocate64(fd, mode, offset, length);
}

/* posix_fallocate reports its error as the return value, not in errno. */
int posix_fallocate(int fd, off_t offset, off_t length) {
    RESOLVE(posix_fallocate);
    if (refuse_resize(fd, 1)) return errno;
    return real_posix_fallocate(fd, offset, length);
}

int posix_fallocate64(int fd, off64_t offset, off64_t length) {
    RESOLVE(posix_fallocate64);
    if (refuse_resize(fd, 1)) return errno;
    return real_posix_fallocate64(fd, offset, length);
}

/* -- the wall clock ----------------------------------------------------------------------- */

static long long monotonic_ns(void) {
    struct timespec now;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* The offset in nanoseconds, re-read from the clock file at most every 10 ms. */
static long long offset_ns(void) {
    if (!clock_path) return 0;
    long long now = monotonic_ns();
    long long checked = atomic_load(&clock_checked_ns);
    if (checked >= 0 && now - checked < 10000000LL) return atomic_load(&clock_offset_ns);
    char text[64];
    read_small_file(clock_path, text, sizeof text);
    long long offset = 0;
    if (text[0]) {
        char *end = NULL;
        int saved = errno;
        double seconds = strtod(text, &end);
        errno = saved;
        if (end != text) offset = (long long)(seconds * 1e9);
    }
    atomic_store(&clock_offset_ns, offset);
    atomic_store(&clock_checked_ns, now);
    return offset;
}

static void shift(struct timespec *time, long long offset) {
    long long total = (long long)time->tv_sec * 1000000000LL + time->tv_nsec + offset;
    long long seconds = total / 1000000000LL, rest = total % 1000000000LL;
    if (rest < 0) { rest += 1000000000LL; seconds -= 1; }
    time->tv_sec = (time_t)seconds;
    time->tv_nsec = (long)rest;
}

int clock_gettime(clockid_t clock, struct timespec *time) {
    RESOLVE(clock_gettime);
    int result = real_clock_gettime(clock, time);
    if (result == 0 && clock_path && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI)) {
        long long offset = offset_ns();
        if (offset) shift(time, offset);
    }
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    RESOLVE(gettimeofday);
    int result = real_gettimeofday(tv, tz);
    if (result == 0 && clock_path) {
        long long offset = offset_ns();
        if (offset) {
            struct timespec time = {tv->tv_sec, tv->tv_usec * 1000L};
            shift(&time, offset);
            tv->tv_sec = time.tv_sec;
            tv->tv_usec = time.tv_nsec / 1000;
        }
    }
    return result;
}

time_t time(time_t *out) {
    RESOLVE(time);
    time_t now = real_time(NULL);
    if (clock_path) now += (time_t)(offset_ns() / 1000000000LL);
    if (out) *out = now;
    return now;
}
