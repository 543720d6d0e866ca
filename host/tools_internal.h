/* SPDX-License-Identifier: MIT */
/*
 * tools_internal.h - the library internals that densecl's own tools (tools/) may use, beside the
 * public densecl.h: the boundary between them, as ggml keeps ggml-backend-impl.h apart. Not
 * installed, and not for other programs: these may change with any release.
 *
 * The tools see the folder headers below (each internal declared once, in its folder's header)
 * but may call only a short list of them: errors, files and atomic writes, JSON, .npy, device
 * lookup, the direct tiles and the tuning file, and the dc_tool_* functions here, through which
 * the kernel families reach the tools. tests/unit/layers.cmake checks that list on the tools'
 * objects.
 */
#ifndef DENSECL_TOOLS_INTERNAL_H
#define DENSECL_TOOLS_INTERNAL_H

#include "runtime/runtime.h"

/* ---------------------------------------------------------------- tools_api.c: the families */

/* `densecl info`'s lines on dev: "convs: ..." (what an engine would resolve for a model with
 * every conv kind, when it resolves) and "conv families:" with one line per family (its
 * parameters' ranges, and why it cannot run a plain 1x1 conv there). Cut to fit cap. */
void dc_tool_families_text(cl_device_id dev, char *buf, size_t cap);
/* The name of family i of this build's registry (0 is direct), NULL past the last. */
const char *dc_tool_family_name(int i);
/* 1 if auto runs the 3x3/1/1 convs on the winograd family on dev by default (no tuning file). */
int dc_tool_winograd_auto(cl_device_id dev);
/* Checks a --kernel-params text as an engine would, with `family` the default family of its
 * parts; *set: bit j when parameter j of that family is given. DENSECL_ERR_ARGUMENT naming
 * `what`. */
densecl_status dc_tool_check_kernel_params(const char *text, const char *family, unsigned *set,
                                           const char *what);

#endif
