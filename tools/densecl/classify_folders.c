/* SPDX-License-Identifier: MIT */
/*
 * classify_folders.c - `densecl classify DIR` and `--truth folders`: a directory input becomes
 * its image files, in the order and with the classes torchvision's ImageFolder gives them, and
 * the class folders' names are matched to the model's classes.
 *
 * Order: every directory under DIR in the order of its path (as Python's sorted(os.walk(DIR))
 * lists them; symbolic links followed, loops refused), and in each its files by name (bytes,
 * as sorted() orders str). With --truth folders, DIR's subdirectories are the classes, sorted
 * by name, each walked that way (ImageFolder's make_dataset); files directly in DIR belong to no
 * class and are skipped. Images are told by their extension, case ignored: ImageFolder's (.jpg
 * .jpeg .png .ppm .bmp .pgm .tif .tiff .webp) and the other formats densecl reads (.gif .pnm
 * .tga .psd .hdr .pic). Hidden entries (a name starting with '.') and other files are skipped
 * and counted. python/densecl/__init__.py follows the same rules.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "classify.h"

enum { MAX_DEPTH = 64, SKIP_NAMES = 3 };

static const char *const image_ext[] = {".jpg", ".jpeg", ".png",  ".ppm",  ".bmp",
                                        ".pgm", ".tif",  ".tiff", ".webp", ".gif",
                                        ".pnm", ".tga",  ".psd",  ".hdr",  ".pic"};

int folder_is_image_name(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < DC_ARRAY_LEN(image_ext); i++) {
        size_t e = strlen(image_ext[i]);
        if (n > e && strcasecmp(name + n - e, image_ext[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **g = realloc(l->s, (size_t)cap * sizeof(*g));
        if (!g) {
            return 0;
        }
        l->s = g;
        l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(s))) {
        return 0;
    }
    l->n++;
    return 1;
}

void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->s[i]);
    }
    free(l->s);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a walk found besides the images. */
typedef struct walk {
    const char *root;
    strlist dirs; /* every directory under the walked one (itself first), by path */
    int64_t other, hidden, outside;
    char *other_names[SKIP_NAMES];
    int n_other_names;
    dev_t dev[MAX_DEPTH];
    ino_t ino[MAX_DEPTH];
    int depth;
    int oom;
} walk;

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* The sorted entries of dir (without "." and ".."). 0 with the error set. */
static int list_dir(const char *dir, strlist *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        fail_msg("%s: cannot read the directory: %s", dir, strerror(errno));
        return 0;
    }
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (!strlist_add(out, e->d_name)) {
            closedir(d);
            fail_msg("out of memory");
            return 0;
        }
    }
    int err = errno;
    closedir(d);
    if (err) {
        fail_msg("%s: cannot read the directory: %s", dir, strerror(err));
        return 0;
    }
    qsort(out->s, (size_t)out->n, sizeof(char *), cmp_str);
    return 1;
}

static void note_other(walk *w, const char *path)
{
    w->other++;
    if (w->n_other_names < SKIP_NAMES) {
        w->other_names[w->n_other_names] = strdup(path);
        w->n_other_names += w->other_names[w->n_other_names] != NULL;
    }
}

/* Collects dir and every directory below it into w->dirs (os.walk(followlinks=True)); counts
 * what is neither a directory nor an image. 0 with the error reported. */
static int collect_dirs(walk *w, const char *dir)
{
    struct stat sb;
    strlist names = {0};
    if (stat(dir, &sb) != 0) {
        return fail_msg("%s: %s", dir, strerror(errno)) == 0;
    }
    for (int i = 0; i < w->depth; i++) {
        if (w->dev[i] == sb.st_dev && w->ino[i] == sb.st_ino) {
            return fail_msg("%s: a symbolic link loop (it is %s again)", dir,
                            i == 0 ? w->root : "a directory above it") == 0;
        }
    }
    if (w->depth == MAX_DEPTH) {
        return fail_msg("%s: more than %d directories deep", dir, MAX_DEPTH) == 0;
    }
    w->dev[w->depth] = sb.st_dev;
    w->ino[w->depth] = sb.st_ino;
    w->depth++;
    int ok = 1;
    if (!strlist_add(&w->dirs, dir)) {
        ok = fail_msg("out of memory") == 0;
    } else {
        ok = list_dir(dir, &names);
    }
    for (int i = 0; ok && i < names.n; i++) {
        char *path = join(dir, names.s[i]);
        if (!path) {
            ok = fail_msg("out of memory") == 0;
            break;
        }
        if (names.s[i][0] == '.') {
            w->hidden++;
        } else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            ok = collect_dirs(w, path);
        } else if (!folder_is_image_name(names.s[i])) {
            note_other(w, path);
        }
        free(path);
    }
    strlist_free(&names);
    w->depth--;
    return ok;
}

/* Appends the images of every directory of w->dirs to files: the directories in path order,
 * each one's files by name. An entry with an image name that is not a regular file (a broken
 * link, a FIFO) is kept: it fails as an input, visibly, as it would for ImageFolder. */
static int add_images(walk *w, strlist *files)
{
    qsort(w->dirs.s, (size_t)w->dirs.n, sizeof(char *), cmp_str);
    for (int d = 0; d < w->dirs.n; d++) {
        strlist names = {0};
        if (!list_dir(w->dirs.s[d], &names)) {
            return 0;
        }
        for (int i = 0; i < names.n; i++) {
            struct stat sb;
            char *path = join(w->dirs.s[d], names.s[i]);
            int keep = path && names.s[i][0] != '.' && folder_is_image_name(names.s[i]) &&
                       !(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
            if (!path || (keep && !strlist_add(files, path))) {
                free(path);
                strlist_free(&names);
                return fail_msg("out of memory") == 0;
            }
            free(path);
        }
        strlist_free(&names);
    }
    return 1;
}

static void walk_free(walk *w)
{
    strlist_free(&w->dirs);
    for (int i = 0; i < w->n_other_names; i++) {
        free(w->other_names[i]);
    }
}

/* "DIR: 240 images in 3 class folders; skipped 2 files that are not images (a.txt, b.csv), ..." */
static void say_skipped(classify *c, const char *dir, int64_t images, int classes, const walk *w)
{
    char msg[2048];
    size_t n;
    if (!w->other && !w->hidden && !w->outside) {
        return;
    }
    n = (size_t)snprintf(msg, sizeof(msg), "%s: %lld image%s", dir, (long long)images,
                         images == 1 ? "" : "s");
    if (classes >= 0 && n < sizeof(msg)) {
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, " in %d class folder%s", classes,
                              classes == 1 ? "" : "s");
    }
    const char *sep = "; skipped";
    if (w->other && n < sizeof(msg)) {
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s %lld file%s not named as an image (",
                              sep, (long long)w->other, w->other == 1 ? "" : "s");
        for (int i = 0; i < w->n_other_names && n < sizeof(msg); i++) {
            n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s", i ? ", " : "",
                                  w->other_names[i]);
        }
        if (n < sizeof(msg)) {
            n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s)",
                                  w->other > w->n_other_names ? ", ..." : "");
        }
        sep = ",";
    }
    if (w->outside && n < sizeof(msg)) {
        n += (size_t)snprintf(msg + n, sizeof(msg) - n,
                              "%s %lld image%s outside the class "
                              "folders",
                              sep, (long long)w->outside, w->outside == 1 ? "" : "s");
        sep = ",";
    }
    if (w->hidden && n < sizeof(msg)) {
        snprintf(msg + n, sizeof(msg) - n, "%s %lld hidden entr%s (names starting with '.')", sep,
                 (long long)w->hidden, w->hidden == 1 ? "y" : "ies");
    }
    print_warning(c, msg);
    c->skipped_files += w->other + w->hidden + w->outside;
}

/* One directory input: its images (no classes), or with folder truth its class folders' images,
 * each file's class (index into c->folder_classes, from class_base). */
static int expand_dir(classify *c, const char *dir, strlist *files, strlist *file_class_of,
                      int *classes_of)
{
    walk w;
    int ok = 1, before = files->n;
    memset(&w, 0, sizeof(w));
    w.root = dir;
    if (!c->truth_folders) {
        ok = collect_dirs(&w, dir) && add_images(&w, files);
        if (ok) {
            say_skipped(c, dir, files->n - before, -1, &w);
        }
        walk_free(&w);
        return ok;
    }
    /* ImageFolder: the subdirectories are the classes, sorted; files beside them are not in any */
    strlist names = {0};
    int n_classes = 0;
    ok = list_dir(dir, &names);
    for (int i = 0; ok && i < names.n; i++) {
        struct stat sb;
        char *path = join(dir, names.s[i]);
        if (!path) {
            ok = fail_msg("out of memory") == 0;
            break;
        }
        if (names.s[i][0] == '.') {
            w.hidden++;
        } else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            walk cw;
            memset(&cw, 0, sizeof(cw));
            cw.root = dir;
            int from = files->n;
            ok = collect_dirs(&cw, path) && add_images(&cw, files);
            w.other += cw.other;
            w.hidden += cw.hidden;
            for (int k = 0; k < cw.n_other_names; k++) {
                if (w.n_other_names < SKIP_NAMES) {
                    w.other_names[w.n_other_names++] = cw.other_names[k];
                    cw.other_names[k] = NULL;
                }
            }
            walk_free(&cw);
            if (ok && !strlist_add(&c->folder_names, names.s[i])) {
                ok = fail_msg("out of memory") == 0;
            }
            for (int f = from; ok && f < files->n; f++) {
                char idx[32];
                snprintf(idx, sizeof(idx), "%d", c->folder_names.n - 1);
                ok = strlist_add(file_class_of, idx) || fail_msg("out of memory") != 0;
            }
            n_classes++;
        } else if (folder_is_image_name(names.s[i])) {
            w.outside++;
        } else {
            note_other(&w, path);
        }
        free(path);
    }
    strlist_free(&names);
    if (ok && n_classes == 0) {
        ok = fail_msg("%s has no class folders: --truth folders takes a directory whose "
                      "subdirectories are the classes (torchvision's ImageFolder layout)",
                      dir) == 0;
    }
    if (ok) {
        say_skipped(c, dir, files->n - before, n_classes, &w);
    }
    *classes_of = n_classes;
    walk_free(&w);
    return ok;
}

int expand_folders(classify *c)
{
    strlist files = {0}, class_of = {0};
    int any_dir = 0, rc = 0;
    for (int i = 0; i < c->n_in && rc == 0; i++) {
        struct stat sb;
        const char *p = c->in[i].path;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            int classes = 0, from = files.n;
            any_dir = 1;
            if (!expand_dir(c, p, &files, &class_of, &classes)) {
                rc = EXIT_RUNTIME;
            } else if (files.n == from) {
                rc = fail_msg("%s holds no images (files named *.png, *.jpg, ...)", p);
            }
        } else if (c->truth_folders) {
            rc = fail_usage("classify",
                            "--truth folders takes directories (torchvision's "
                            "ImageFolder layout: one subdirectory per class), but "
                            "'%s' is not one",
                            p);
        } else if (!strlist_add(&files, p)) {
            rc = fail_msg("out of memory");
        }
    }
    if (rc != 0 || !any_dir) {
        strlist_free(&files);
        strlist_free(&class_of);
        return rc;
    }
    input_file *in = calloc((size_t)files.n, sizeof(*in));
    int *cls = c->truth_folders ? malloc((size_t)files.n * sizeof(int)) : NULL;
    if (!in || (c->truth_folders && !cls)) {
        free(in);
        free(cls);
        strlist_free(&files);
        strlist_free(&class_of);
        return fail_msg("out of memory");
    }
    for (int i = 0; i < files.n; i++) {
        in[i].path = in[i].owned = files.s[i];
        if (cls) {
            cls[i] = atoi(class_of.s[i]);
        }
    }
    free(files.s); /* the strings now belong to in[] */
    strlist_free(&class_of);
    free(c->in);
    c->in = in;
    c->n_in = files.n;
    c->folder_class = cls;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Class folders to the model's classes
 * ------------------------------------------------------------------------------------------- */

/* Class names compared as people write folder names: ASCII case ignored, '_' as ' '. */
static int name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = *a == '_' ? ' ' : tolower((unsigned char)*a);
        int y = *b == '_' ? ' ' : tolower((unsigned char)*b);
        if (x != y) {
            return 0;
        }
        if (!x) {
            return 1;
        }
    }
}

int setup_folder_truth(classify *c)
{
    int n = c->folder_names.n, matched = 0;
    int *map = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!map) {
        return fail_msg("out of memory");
    }
    /* By name, when the model has names: each folder the one class of that name. */
    for (int f = 0; f < n; f++) {
        map[f] = -1;
        for (int k = 0; c->names && k < c->classes; k++) {
            if (!name_eq(c->folder_names.s[f], c->names[k])) {
                continue;
            }
            if (map[f] >= 0) {
                int first = map[f];
                free(map);
                return fail_msg("class folder '%s' matches two of the model's classes, %d '%s' "
                                "and %d '%s': rename the folders to class numbers in sorted "
                                "order, or give --labels with distinct names",
                                c->folder_names.s[f], first, c->names[first], k, c->names[k]);
            }
            map[f] = k;
        }
        matched += map[f] >= 0;
    }
    if (matched > 0 && matched < n) {
        char list[1024] = "";
        size_t len = 0;
        int shown = 0;
        for (int f = 0; f < n && len < sizeof(list); f++) {
            if (map[f] < 0 && shown++ < 5) {
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", len ? ", " : "",
                                        c->folder_names.s[f]);
            }
        }
        free(map);
        return fail_msg("--truth folders: %d of the %d class folders are not class names of the "
                        "model (%s%s): the folders must all be named as the model's classes "
                        "(--labels, the weights' names), or none (then they are matched by "
                        "sorted position, as ImageFolder numbers them)",
                        n - matched, n, list, n - matched > 5 ? ", ..." : "");
    }
    if (matched == 0) {
        /* ImageFolder's class_to_idx: the i-th folder in sorted order is class i. */
        if (n != c->classes) {
            free(map);
            return fail_msg("--truth folders: %d class folders, but the model has %d classes "
                            "and %s: which folder is which class cannot be told; name the folders "
                            "as the classes (or give --labels FILE with the folders' names)",
                            n, c->classes,
                            c->names ? "none of the folders is named as one of them"
                                     : "no class names");
        }
        for (int f = 0; f < n; f++) {
            map[f] = f;
        }
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "--truth folders: the class folders are not named as the model's classes: "
                 "folder i in sorted order is class i, as torchvision's ImageFolder numbers them "
                 "('%s' is class 0%s%s%s)",
                 c->folder_names.s[0], c->names ? " '" : "", c->names ? c->names[0] : "",
                 c->names ? "'" : "");
        print_warning(c, msg);
    }
    c->n_truth = c->all_total;
    c->truth = malloc((size_t)(c->n_truth ? c->n_truth : 1) * sizeof(int));
    if (!c->truth) {
        free(map);
        return fail_msg("out of memory");
    }
    for (int i = 0; i < c->n_in; i++) {
        if (c->in[i].first < c->n_truth) { /* every input is one image file */
            c->truth[c->in[i].first] = map[c->folder_class[i]];
        }
    }
    free(map);
    return 0;
}
