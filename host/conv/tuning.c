/* SPDX-License-Identifier: MIT */
/* tuning.c - the direct family's tiles in their legacy form and the device's tuning file
 * (`densecl tune` writes it: the tiles, and the family and parameters it measured fastest) */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conv/conv.h"

/* ------------------------------------------------------------------ tiles (legacy form) */

void dc_tiles_generic(densecl_tiles *t)
{
    /* kernels/direct.cl's own defaults. */
    t->conv1x1_channels = 4;
    t->conv1x1_pixels = 16;
    t->conv_channels = 16;
    t->conv_pixels = 3;
}

/* The 1x1 tiles the first-run race (host/runtime/race.c) measures on CPUs with 16-wide float
 * vectors, the static default first. Two CPUs with the same instruction set (AVX-512) and POCL
 * 3.1, 2 cores each, disagree, each by measurement: on an AMD EPYC, 2026-12-04, 16x16 (one
 * float16 of pixels, 16 channels) beat 8x32 on every DenseNet-121 1x1 shape (with prologue,
 * cout 128; both builds in one process, alternating, medians of 12-15): 1.31 against 1.56 ms at
 * 160 x 56x56, 0.65 against 0.74 at 320 x 28x28, 0.38 against 0.46 at 704 x 14x14, 0.14 against
 * 0.16 at 800 x 7x7 (12x16 slower than 16x16); on an Intel Xeon 8x32 beat 8x16, 4x32, 12x16,
 * 12x32, 16x16 and 16x32 (the tuner's runs at batch 8), and 2026-12-07 8x32 ran DenseNet-121's
 * 1x1 convs 11% faster than 16x16 at batch 1 (per-op minima, 25 alternating rounds). Nothing
 * the device reports tells the two apart, so the race decides. */
static const int dc_race_candidates[][2] = {{8, 32}, {16, 16}};

/* The race file of dev (in the cache directory, beside its tuning file): one "conv1x1 CxP"
 * line. Kernel changes may change the winner, so densecl's version is part of the name. */
static int dc_race_file(cl_device_id dev, char *buf, size_t cap)
{
    char dir[4000], id[1700];
    densecl_device_info info;
    if (!dc_cache_dir(dir, sizeof dir))
        return 0;
    dc_device_describe(dev, &info);
    snprintf(id, sizeof id, "platform=%s\ndevice=%s\nvendor=%s\ndriver=%s\ndensecl=%s\n",
             info.platform_name, info.name, info.vendor, info.driver_version, densecl_version());
    snprintf(buf, cap, "%s/race-%016llx.txt", dir,
             (unsigned long long)dc_fnv(DC_FNV_SEED, id, strlen(id)));
    return 1;
}

/* 1 for a CPU with 16-wide native float vectors, as dc_caps_query reports it (the device
 * profile in force, if any: a GPU's keeps the generic tiles). */
static int dc_wide_cpu(cl_device_id dev)
{
    dc_caps c;
    if (!dev || dc_caps_query(dev, &c) != DENSECL_OK) {
        dc_clear_error(); /* a profile that does not load: the engine says so */
        return 0;
    }
    return (c.type & CL_DEVICE_TYPE_CPU) && c.native_vector_float >= 16;
}

int dc_tiles_race(cl_device_id dev, int tiles[][2], int max, char *path, size_t cap)
{
    const int n = (int)DC_ARRAY_LEN(dc_race_candidates);
    const char *no = getenv("DENSECL_NO_TUNING");
    /* A device profile resolves for another device: this one's race says nothing of it. */
    if (!dc_wide_cpu(dev) || (no && *no && strcmp(no, "0") != 0) || max < n ||
        dc_device_profile_in_force() || !dc_race_file(dev, path, cap))
        return 0;
    memcpy(tiles, dc_race_candidates, sizeof dc_race_candidates);
    return n;
}

void dc_tiles_default(cl_device_id dev, densecl_tiles *t)
{
    int tiles[4][2];
    char path[4200], *text;
    dc_tiles_generic(t);
    if (!dc_wide_cpu(dev))
        return;
    /* direct.cl's defaults were the fastest on POCL 3.1 on an AVX2 CPU (16 vector registers:
     * larger tiles spill). A CPU with 16-wide float vectors (AVX-512, 32 registers, float16
     * code: CONV_VEC) holds larger tiles. For the 3x3, 32x4 (all 32 channels of a growth conv
     * per input value) ran those layers 20-26% faster than 16x6 on a 2-core Xeon, and 16x6 as
     * fast as 16x8, which took POCL 0.3 s longer to compile (a first run with empty caches:
     * 3.4-4.0 s with 32x4 and the stem kept at 16x4, 3.1-3.8 s with 16x6); on an AMD EPYC 16x8
     * and 32x6 were slower and 32x3 mixed. Engines halve the 32 for models with a smaller growth
     * rate (dc_direct_fit). The 1x1 tile: dc_race_candidates' first, or what the race measured
     * faster on this device. GPUs keep the generic tiles until measured: run densecl tune. */
    t->conv1x1_channels = dc_race_candidates[0][0];
    t->conv1x1_pixels = dc_race_candidates[0][1];
    t->conv_channels = 32;
    t->conv_pixels = 4;
    if (dc_tiles_race(dev, tiles, 4, path, sizeof path) && access(path, F_OK) == 0 &&
        (text = dc_read_text("", path)) != NULL) {
        int c = 0, px = 0, won = 0;
        for (const char *l = text; *l; l += strcspn(l, "\n"), l += *l == '\n') {
            char tile[32];
            if (sscanf(l, "conv1x1 %31s", tile) == 1 && dc_parse_tile(tile, &c, &px))
                break;
            c = px = 0;
        }
        for (int i = 0; i < (int)DC_ARRAY_LEN(dc_race_candidates); i++)
            won |= c == tiles[i][0] && px == tiles[i][1];
        if (won) {
            t->conv1x1_channels = c;
            t->conv1x1_pixels = px;
        } else {
            dc_log(DENSECL_LOG_WARN, "ignoring %s: no 'conv1x1 CxP' line of a tile it races", path);
        }
        free(text);
    }
    dc_clear_error();
}

densecl_status dc_tiles_check(const densecl_tiles *t, const char *what)
{
    int px = t->conv1x1_pixels, co = t->conv_channels;
    if (t->conv1x1_channels < 1 || t->conv1x1_channels > 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: 1x1 conv tile of %d channels (1 to 16)", what,
                        t->conv1x1_channels);
    if (px != 2 && px != 4 && px != 8 && px != 16 && px != 24 && px != 32)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: 1x1 conv tile of %d pixels (2, 4, 8, 16, 24 or 32)", what, px);
    if (co != 2 && co != 4 && co != 8 && co != 16 && co != 32)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: conv tile of %d channels (2, 4, 8, 16 or 32)",
                        what, co);
    if (t->conv_pixels < 1 || t->conv_pixels > 8)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: conv tile of %d pixels (1 to 8)", what,
                        t->conv_pixels);
    return DENSECL_OK;
}

int dc_tiles_path(cl_device_id dev, char *buf, size_t cap)
{
    char dir[4000], id[1536];
    densecl_device_info info;
    if (!dc_cache_dir(dir, sizeof dir))
        return 0;
    dc_device_describe(dev, &info);
    /* Tiles belong to a device and its driver; kernel source changes keep them (they stay valid,
     * if perhaps no longer the fastest). */
    snprintf(id, sizeof id, "platform=%s\ndevice=%s\nvendor=%s\ndriver=%s\n", info.platform_name,
             info.name, info.vendor, info.driver_version);
    snprintf(buf, cap, "%s/tiles-%016llx.txt", dir,
             (unsigned long long)dc_fnv(DC_FNV_SEED, id, strlen(id)));
    return 1;
}

/* A decimal in [1, 64] at *s (at most two digits, so it cannot overflow: sscanf's %d is undefined
 * for numbers an int cannot hold); advances *s past it. */
static int tile_side(const char **s, int *out)
{
    const char *p = *s;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 3) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 2 || v < 1 || v > 64)
        return 0;
    *out = v;
    *s = p;
    return 1;
}

int dc_parse_tile(const char *s, int *a, int *b)
{
    return tile_side(&s, a) && *s++ == 'x' && tile_side(&s, b) && *s == '\0';
}

densecl_status dc_tiles_parse(const char *text, densecl_tiles *t, const char *what)
{
    return dc_tuning_parse(text, t, NULL, 0, NULL, 0, what);
}

densecl_status dc_tuning_parse(const char *text, densecl_tiles *t, char *family, size_t fcap,
                               char *params, size_t pcap, const char *what)
{
    char line[256];
    int have1 = 0, have3 = 0, havef = 0, havep = 0, lineno = 0;
    memset(t, 0, sizeof *t);
    if (fcap)
        family[0] = '\0';
    if (pcap)
        params[0] = '\0';
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        lineno++;
        if (n >= sizeof line)
            return dc_error(DENSECL_ERR_FORMAT, "%s:%d: line too long", what, lineno);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (p[n] == '\n');
        char *s = line + strspn(line, " \t\r");
        s[strcspn(s, "\r")] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        char name[16], tile[200], extra[2];
        /* "family NAME" and "params TEXT" (the family's kernel_params) once each: the family
         * that won `densecl tune`, whose row auto then picks. */
        if (sscanf(s, "%15s %199s %1s", name, tile, extra) == 2 && strcmp(name, "family") == 0 &&
            !havef) {
            havef = 1;
            if (fcap)
                snprintf(family, fcap, "%s", tile);
            continue;
        }
        if (sscanf(s, "%15s %199s %1s", name, tile, extra) == 2 && strcmp(name, "params") == 0 &&
            !havep) {
            havep = 1;
            if (pcap)
                snprintf(params, pcap, "%s", tile);
            continue;
        }
        if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv1x1") == 0 &&
            !have1 && dc_parse_tile(tile, &t->conv1x1_channels, &t->conv1x1_pixels))
            have1 = 1;
        else if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv") == 0 &&
                 !have3 && dc_parse_tile(tile, &t->conv_channels, &t->conv_pixels))
            have3 = 1;
        else
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s:%d: expected 'conv1x1 CxP', 'conv CxP', 'family NAME' or "
                            "'params TEXT' (once each), got '%.60s'",
                            what, lineno, s);
    }
    if (!have1 || !have3)
        return dc_error(DENSECL_ERR_FORMAT, "%s: no '%s' line", what, have1 ? "conv" : "conv1x1");
    return dc_tiles_check(t, what) == DENSECL_OK ? DENSECL_OK : DENSECL_ERR_FORMAT;
}

densecl_status dc_tiles_write(const char *path, const densecl_tiles *t, const char *comment)
{
    return dc_tuning_write(path, t, NULL, NULL, comment);
}

densecl_status dc_tuning_write(const char *path, const densecl_tiles *t, const char *family,
                               const char *params, const char *comment)
{
    dc_atomic_file a;
    densecl_status st;
    char dir[4000];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        dc_mkdirs(dir);
    }
    char line[512];
    snprintf(line, sizeof line, "%s", comment ? comment : "densecl tiles");
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' '; /* one comment line, whatever the device's name holds */
    if ((st = dc_atomic_open(&a, path)) != DENSECL_OK)
        return st;
    int ok = fprintf(a.f, "# %s\nconv1x1 %dx%d\nconv %dx%d\n", line, t->conv1x1_channels,
                     t->conv1x1_pixels, t->conv_channels, t->conv_pixels) > 0;
    if (ok && family && *family)
        ok = fprintf(a.f, "family %s\n", family) > 0;
    if (ok && params && *params)
        ok = fprintf(a.f, "params %s\n", params) > 0;
    return dc_atomic_close(&a, ok && !ferror(a.f));
}

densecl_status dc_tiles_resolve(cl_device_id dev, const densecl_tiles *given, densecl_tiles *out,
                                densecl_tiles_origin *origin)
{
    char path[4200];
    const char *no = getenv("DENSECL_NO_TUNING");
    int set = 0;
    if (given) {
        set = (given->conv1x1_channels != 0) + (given->conv1x1_pixels != 0) +
              (given->conv_channels != 0) + (given->conv_pixels != 0);
    }
    if (set == 4) {
        *out = *given;
        *origin = DENSECL_TILES_GIVEN;
        return dc_tiles_check(out, "densecl_engine_options.tiles");
    }
    if (set != 0)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "densecl_engine_options.tiles: set all four fields, or none");
    dc_tiles_default(dev, out);
    *origin = DENSECL_TILES_DEFAULT;
    /* A device profile resolves for another device: this one's tuning says nothing of it. */
    if ((no && *no && strcmp(no, "0") != 0) || dc_device_profile_in_force() ||
        !dc_tiles_path(dev, path, sizeof path))
        return DENSECL_OK;
    if (access(path, F_OK) != 0)
        return DENSECL_OK; /* this device was never tuned */
    densecl_tiles t;
    if (dc_tiles_load(path, &t) == DENSECL_OK) {
        *out = t;
        *origin = DENSECL_TILES_TUNED;
        dc_log(DENSECL_LOG_DEBUG, "conv tiles from %s", path);
    } else {
        dc_log(DENSECL_LOG_WARN, "ignoring the tuning file (%s); using the default tiles",
               densecl_last_error());
    }
    dc_clear_error();
    return DENSECL_OK;
}

int dc_tuned_family(cl_device_id dev, char *family, size_t fcap, char *params, size_t pcap)
{
    char path[4200];
    const char *no = getenv("DENSECL_NO_TUNING");
    densecl_tiles t;
    char *text;
    int ok;
    if ((no && *no && strcmp(no, "0") != 0) || dc_device_profile_in_force() ||
        !dc_tiles_path(dev, path, sizeof path) || access(path, F_OK) != 0 ||
        !(text = dc_read_text("", path))) {
        dc_clear_error();
        return 0;
    }
    ok = dc_tuning_parse(text, &t, family, fcap, params, pcap, path) == DENSECL_OK &&
         family[0] != '\0';
    free(text);
    dc_clear_error(); /* an invalid file: dc_tiles_resolve logs it */
    return ok;
}

densecl_status dc_tiles_load(const char *path, densecl_tiles *t)
{
    char *text = dc_read_text("", path);
    if (!text)
        return DENSECL_ERR_IO;
    densecl_status st = dc_tiles_parse(text, t, path);
    free(text);
    return st;
}

/* The conv tile's channel count for a model's 3x3 convs: of channels, channels / 2, ... (down
 * to 16), the one that wastes the fewest multiply-adds on padding channels, the larger on a
 * tie. A device's 32-channel tile fits DenseNet-121's growth rate of 32, but computes 20
 * channels for nothing per 3x3 conv of a growth rate of 12, where 16 wastes 4 (DenseNet-BC-100
 * batch 64 on a Xeon: its 3x3 convs took 182 ms with 32, 159 ms with 16). */
static int dc_fit_conv_channels(int channels, const dc_plan *plan)
{
    int best = channels;
    double best_waste = -1;
    for (int c = channels; c >= 16; c /= 2) {
        double waste = 0;
        for (int i = 0; i < plan->n_ops; i++) {
            const dc_op *op = &plan->ops[i];
            if (op->kind == DC_OP_CONV && op->k == 3 && op->stride == 1)
                waste += (double)((op->out_c + c - 1) / c * c - op->out_c) * op->in_c * 9.0 *
                         op->out_h * op->out_w;
        }
        if (best_waste < 0 || waste < best_waste) {
            best = c;
            best_waste = waste;
        }
    }
    return best;
}

/* Fits t to the model of plan: its conv channels (dc_fit_conv_channels), with as many more
 * pixels (up to 8) to keep the accumulators that cover the FMA latency. */
void dc_tiles_fit_plan(densecl_tiles *t, const dc_plan *plan)
{
    int c = dc_fit_conv_channels(t->conv_channels, plan);
    for (int f = t->conv_channels / c; f > 1 && t->conv_pixels * 2 <= 8; f /= 2)
        t->conv_pixels *= 2;
    t->conv_channels = c;
}

densecl_status dc_tiles_fit(densecl_tiles *t, const densecl_config *cfg)
{
    dc_plan plan;
    int min = densecl_config_min_size(cfg);
    densecl_status st = dc_plan_build(cfg, 1, min, min, &plan);
    if (st != DENSECL_OK)
        return st;
    dc_tiles_fit_plan(t, &plan);
    dc_plan_free(&plan);
    return DENSECL_OK;
}
