/* SPDX-License-Identifier: MIT */
/* files.c - opening for reading (regular files only), atomic writes, the cache directory,
 * whole-file reads, mkdir -p, FNV-1a. Knows no DenseNet and no OpenCL. */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

/* ------------------------------------------------------------------ files
 *
 * Temporary files are ".NAME.densecl-PID-XXXXXX" beside the file they replace: mkstemp makes the
 * name unique (threads of one process never collide), the PID lets a later writer in the same
 * directory tell that their writer is dead. Live temporaries are also listed in a fixed table
 * that a signal handler may walk (dc_atomic_remove_temps): no allocation, no lock. */

#define DC_TEMP_TAG ".densecl-"
#define DC_TEMP_SLOTS 32
#define DC_TEMP_PATH_MAX 4096
/* A temporary of a dead process is removed once it is this old: a PID that looks dead may be
 * alive in another PID namespace sharing the directory, and no write takes that long. */
#define DC_TEMP_STALE_SECONDS 600
/* Longest part of the final name kept in a temporary's name, so that it fits NAME_MAX (255)
 * with the dot, the tag, a PID and the mkstemp suffix. */
#define DC_TEMP_BASE_MAX 200

static struct {
    atomic_int state; /* 0 free, 1 being filled in, 2 a live temporary */
    char path[DC_TEMP_PATH_MAX];
} dc_temps_[DC_TEMP_SLOTS];

static int dc_temp_register(const char *path)
{
    if (strlen(path) >= DC_TEMP_PATH_MAX)
        return -1;
    for (int i = 0; i < DC_TEMP_SLOTS; i++) {
        int free_ = 0;
        if (atomic_compare_exchange_strong(&dc_temps_[i].state, &free_, 1)) {
            memcpy(dc_temps_[i].path, path, strlen(path) + 1);
            atomic_store(&dc_temps_[i].state, 2);
            return i;
        }
    }
    return -1; /* full: a signal may leave this one behind, and a later writer removes it */
}

static void dc_temp_unregister(int slot)
{
    if (slot >= 0)
        atomic_store(&dc_temps_[slot].state, 0);
}

void dc_atomic_remove_temps(void)
{
    for (int i = 0; i < DC_TEMP_SLOTS; i++)
        if (atomic_load(&dc_temps_[i].state) == 2)
            unlink(dc_temps_[i].path);
}

static const char *dc_mode_name(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "a special file";
}

densecl_status dc_open_regular(const char *path, const char *what, int *fd_out)
{
    struct stat sb;
    int fd, flags;
    *fd_out = -1;
    what = what ? what : "";
    /* O_NONBLOCK: opening a FIFO without a writer must not wait for one. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return dc_error(DENSECL_ERR_IO, "%s%s: cannot open: %s", what, path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        densecl_status st =
            dc_error(DENSECL_ERR_IO, "%s%s: cannot stat: %s", what, path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return dc_error(DENSECL_ERR_IO, "%s%s is %s, not a regular file", what, path,
                        dc_mode_name(sb.st_mode));
    }
    if ((flags = fcntl(fd, F_GETFL)) != -1)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fd_out = fd;
    return DENSECL_OK;
}

densecl_status dc_fopen_regular(const char *path, const char *what, FILE **f)
{
    int fd;
    densecl_status st = dc_open_regular(path, what, &fd);
    *f = NULL;
    if (st != DENSECL_OK)
        return st;
    if (!(*f = fdopen(fd, "rb"))) {
        st = dc_error(DENSECL_ERR_IO, "%s%s: cannot open: %s", what ? what : "", path,
                      strerror(errno));
        close(fd);
    }
    return st;
}

/* The descriptor a name of the process's own descriptors refers to ("/dev/stdout",
 * "/dev/fd/N", "/proc/self/fd/N"), or -1. Such a name is written through that descriptor, so
 * that output goes where the shell sent it (a pipe, a terminal, a file at its offset). */
static int dc_own_fd_name(const char *p)
{
    static const char *const prefixes[] = {"/dev/fd/", "/proc/self/fd/"};
    if (strcmp(p, "/dev/stdout") == 0)
        return 1;
    if (strcmp(p, "/dev/stderr") == 0)
        return 2;
    for (size_t i = 0; i < DC_ARRAY_LEN(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        const char *d = p + n;
        if (strncmp(p, prefixes[i], n) == 0 && *d >= '0' && *d <= '9' && strlen(d) < 8 &&
            strspn(d, "0123456789") == strlen(d))
            return atoi(d);
    }
    return -1;
}

/* Follows the symbolic links of path (at most 40) to the name they end at, which need not
 * exist. *sb and *exists describe that name; *own_fd is set when the chain passes a name of
 * one of our descriptors. NULL on error (errno set). */
static char *dc_resolve_links(const char *path, struct stat *sb, int *exists, int *own_fd)
{
    char *cur = strdup(path);
    *exists = 0;
    *own_fd = -1;
    for (int hops = 0; cur; hops++) {
        char target[DC_TEMP_PATH_MAX];
        ssize_t n;
        if ((*own_fd = dc_own_fd_name(cur)) >= 0)
            return cur;
        if (lstat(cur, sb) != 0)
            return cur; /* missing: created below, or the creation says why not */
        if (!S_ISLNK(sb->st_mode)) {
            *exists = 1;
            return cur;
        }
        if (hops == 40 || (n = readlink(cur, target, sizeof target - 1)) < 0) {
            if (hops == 40)
                errno = ELOOP;
            free(cur);
            return NULL;
        }
        target[n] = '\0';
        char *slash = strrchr(cur, '/'), *next;
        if (target[0] == '/' || !slash) {
            next = strdup(target);
        } else {
            size_t dlen = (size_t)(slash - cur) + 1;
            next = malloc(dlen + (size_t)n + 1);
            if (next) {
                memcpy(next, cur, dlen);
                memcpy(next + dlen, target, (size_t)n + 1);
            }
        }
        free(cur);
        cur = next;
    }
    errno = ENOMEM;
    return NULL;
}

/* The process's umask, without changing it (umask() would, for every thread). */
static mode_t dc_umask(void)
{
    mode_t mask = 022;
    char line[128];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mask;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Umask:", 6) == 0) {
            mask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            break;
        }
    fclose(f);
    return mask;
}

/* Removes the temporaries of dead densecl processes from dir (see DC_TEMP_STALE_SECONDS). */
static void dc_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        const char *tag = de->d_name[0] == '.' ? strstr(de->d_name, DC_TEMP_TAG) : NULL;
        const char *last = tag;
        while (last && (tag = strstr(last + 1, DC_TEMP_TAG)) != NULL)
            last = tag;
        if (!last)
            continue;
        const char *p = last + strlen(DC_TEMP_TAG);
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 9 || p[digits] != '-' || strlen(p + digits + 1) != 6)
            continue;
        long pid = strtol(p, NULL, 10);
        char full[DC_TEMP_PATH_MAX];
        struct stat sb;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* ours, or alive (EPERM: someone else's, alive) */
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full ||
            lstat(full, &sb) != 0 || !S_ISREG(sb.st_mode) ||
            now - sb.st_mtime < DC_TEMP_STALE_SECONDS)
            continue;
        if (unlink(full) == 0)
            dc_log(DENSECL_LOG_INFO, "removed %s, left behind by process %ld", full, pid);
    }
    closedir(d);
}

/* A mountinfo field with its \ooo escapes (space, tab, newline, backslash) undone, in place. */
static void dc_unescape_octal(char *s)
{
    char *o = s;
    for (const char *p = s; *p; o++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 4;
        } else {
            *o = *p++;
        }
    }
    *o = '\0';
}

int dc_path_is_mount(const char *path)
{
    struct stat sb, db;
    int mount = 0;
    char *real = realpath(path, NULL), *line = NULL;
    size_t cap = 0;
    if (!real || stat(real, &sb) != 0) {
        free(real);
        return 0;
    }
    char *slash = strrchr(real, '/');
    if (slash && slash != real) {
        *slash = '\0';
        mount = stat(real, &db) == 0 && db.st_dev != sb.st_dev;
        *slash = '/';
    }
    FILE *f = mount ? NULL : fopen("/proc/self/mountinfo", "re");
    while (f && !mount && getline(&line, &cap, f) > 0) {
        /* "ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS ...": the fifth field */
        char *p = line;
        for (int i = 0; i < 4 && p; i++)
            p = (p = strchr(p, ' ')) ? p + 1 : NULL;
        char *end = p ? strchr(p, ' ') : NULL;
        if (!end)
            continue;
        *end = '\0';
        dc_unescape_octal(p);
        mount = strcmp(p, real) == 0;
    }
    if (f)
        fclose(f);
    free(line);
    free(real);
    return mount;
}

/* Writes straight into fd (a device, FIFO or one of our descriptors): nothing to rename. */
static densecl_status dc_atomic_stream(dc_atomic_file *a, int fd, const char *what)
{
    if (fd < 0 || !(a->f = fdopen(fd, "wb"))) {
        densecl_status st =
            dc_error(DENSECL_ERR_IO, "%s: cannot open%s: %s", a->path, what, strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    return DENSECL_OK;
}

densecl_status dc_atomic_open(dc_atomic_file *a, const char *path)
{
    struct stat sb;
    int exists, own_fd, fd;
    densecl_status st;
    memset(a, 0, sizeof *a);
    a->path = path;
    a->slot = -1;
    if (!(a->real = dc_resolve_links(path, &sb, &exists, &own_fd)))
        return dc_error(DENSECL_ERR_IO, "%s: cannot follow its symbolic links: %s", path,
                        strerror(errno));
    if (own_fd >= 0) {
        st = dc_atomic_stream(a, fcntl(own_fd, F_DUPFD_CLOEXEC, 3), "");
        goto out;
    }
    if (exists && (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
        /* Blocks until a FIFO has a reader: the reader is what the user named it for. */
        st = dc_atomic_stream(a, open(a->real, O_WRONLY | O_CLOEXEC | O_NOCTTY), "");
        goto out;
    }
    if (exists && !S_ISREG(sb.st_mode)) {
        st = dc_error(DENSECL_ERR_IO,
                      "%s is %s: densecl writes only regular files, character devices (such as "
                      "/dev/null) and FIFOs",
                      path, dc_mode_name(sb.st_mode));
        goto out;
    }
    /* A regular file, or none yet: a temporary in the same directory, renamed over it. */
    const char *slash = strrchr(a->real, '/');
    const char *base = slash ? slash + 1 : a->real;
    char dir[DC_TEMP_PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == a->real)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - a->real), a->real);
    size_t len = strlen(dir) + strlen(base) + 64;
    if (!(a->tmp = malloc(len))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    snprintf(a->tmp, len, "%s/.%.*s" DC_TEMP_TAG "%ld-XXXXXX", dir, DC_TEMP_BASE_MAX, base,
             (long)getpid());
    dc_remove_stale_temps(dir);
    a->in_place = exists && dc_path_is_mount(a->real);
    if (a->in_place)
        dc_log(DENSECL_LOG_INFO, "%s is a mount point: it is written in place once complete", path);
    fd = mkstemp(a->tmp);
    if (fd < 0 && a->in_place) {
        /* A bind-mounted file in a directory we cannot write: the temporary goes elsewhere. */
        const char *t = getenv("TMPDIR");
        char *alt = malloc(strlen(t && *t ? t : "/tmp") + strlen(base) + 64);
        if (alt) {
            sprintf(alt, "%s/.%.*s" DC_TEMP_TAG "%ld-XXXXXX", t && *t ? t : "/tmp",
                    DC_TEMP_BASE_MAX, base, (long)getpid());
            if ((fd = mkstemp(alt)) >= 0) {
                free(a->tmp);
                a->tmp = alt;
            } else {
                free(alt);
            }
        }
    }
    if (fd < 0) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot create a file in %s: %s", path, dir,
                      strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        goto out;
    }
    a->slot = dc_temp_register(a->tmp);
    /* mkstemp makes it 0600: give it the mode of the file it replaces, or of a new file. */
    fchmod(fd, exists ? (sb.st_mode & 07777) : (0666 & ~dc_umask()));
    if (!(a->f = fdopen(fd, "wb"))) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot open %s: %s", path, a->tmp, strerror(errno));
        close(fd);
        dc_temp_unregister(a->slot);
        unlink(a->tmp);
        free(a->tmp);
        a->tmp = NULL;
        goto out;
    }
    st = DENSECL_OK;
out:
    if (st != DENSECL_OK) {
        free(a->real);
        a->real = NULL;
    }
    errno = 0;
    return st;
}

/* Copies the complete temporary into a->real, which is truncated first: what a mount point
 * gets instead of a rename. */
static densecl_status dc_copy_in_place(const dc_atomic_file *a)
{
    densecl_status st = DENSECL_OK;
    int in = open(a->tmp, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(a->real, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    char buf[1 << 16];
    ssize_t n = 0;
    while (out >= 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (ssize_t done = 0, w; done < n; done += w)
            if ((w = write(out, buf + done, (size_t)(n - done))) < 0) {
                if (errno == EINTR) {
                    w = 0;
                    continue;
                }
                n = -1;
                break;
            }
        if (n < 0)
            break;
    }
    if (in < 0 || out < 0 || n != 0 || fsync(out) != 0)
        st = dc_error(DENSECL_ERR_IO, "%s: cannot write it in place: %s", a->path, strerror(errno));
    if (out >= 0 && close(out) != 0 && st == DENSECL_OK)
        st = dc_error(DENSECL_ERR_IO, "%s: write error: %s", a->path, strerror(errno));
    if (in >= 0)
        close(in);
    return st;
}

densecl_status dc_atomic_close(dc_atomic_file *a, int ok)
{
    densecl_status st = DENSECL_OK;
    int err = errno; /* what the failed write (if any) left */
    if (ok && fflush(a->f) != 0) {
        ok = 0;
        err = errno;
    }
    /* A device or FIFO need not (and often cannot) be synced. */
    if (ok && a->tmp && fsync(fileno(a->f)) != 0) {
        ok = 0;
        err = errno;
    }
    if (fclose(a->f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    dc_temp_unregister(a->slot);
    if (!ok) {
        st = dc_error(DENSECL_ERR_IO, "%s: write error: %s", a->path,
                      err ? strerror(err) : "a write failed");
    } else if (a->tmp && !a->in_place && rename(a->tmp, a->real) != 0) {
        if (errno == EBUSY || errno == EXDEV) {
            /* A mount point that dc_path_is_mount did not see: in place after all. */
            dc_log(DENSECL_LOG_WARN, "%s cannot be renamed over (%s): written in place", a->path,
                   strerror(errno));
            a->in_place = 1;
        } else {
            st = dc_error(DENSECL_ERR_IO, "%s: cannot rename %s over it: %s", a->path, a->tmp,
                          strerror(errno));
        }
    }
    if (st == DENSECL_OK && a->tmp && a->in_place)
        st = dc_copy_in_place(a);
    if (a->tmp && (st != DENSECL_OK || a->in_place))
        unlink(a->tmp);
    free(a->tmp);
    free(a->real);
    a->tmp = NULL;
    a->real = NULL;
    a->f = NULL;
    a->slot = -1;
    return st;
}

char *dc_read_text(const char *prefix, const char *path)
{
    FILE *f;
    char *buf = NULL;
    long len;
    if (dc_fopen_regular(path, prefix, &f) != DENSECL_OK)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        dc_error(DENSECL_ERR_IO, "%s%s: cannot read the file", prefix, path);
        goto done;
    }
    buf = malloc((size_t)len + 1);
    if (!buf) {
        dc_error(DENSECL_ERR_NO_MEMORY, "%s%s: out of memory", prefix, path);
        goto done;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        dc_error(DENSECL_ERR_IO, "%s%s: short read", prefix, path);
        free(buf);
        buf = NULL;
        goto done;
    }
    buf[len] = '\0';
done:
    fclose(f);
    return buf;
}

uint64_t dc_fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void dc_mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

int dc_cache_dir(char *buf, size_t cap)
{
    const char *d = getenv("DENSECL_CACHE_DIR");
    if (d && *d)
        return snprintf(buf, cap, "%s", d) < (int)cap;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(buf, cap, "%s/densecl", d) < (int)cap;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(buf, cap, "%s/.cache/densecl", d) < (int)cap;
    return 0;
}
