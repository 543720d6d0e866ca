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
 *
 * tool-visible:
 *   base       dc_error dc_clear_error dc_mul_size dc_shape_str dc_open_regular
 *              dc_fopen_regular dc_atomic_open dc_atomic_close dc_atomic_remove_temps
 *              dc_path_is_mount dc_fnv
 *              dc_json_parse dc_json_free dc_json_get dc_json_is_integer dc_json_write_string
 *   formats    dc_npy_read dc_npy_parse dc_npy_write dc_npy_free
 *   model      dc_preprocess_parse dc_names_parse_json dc_names_free dc_weights_digest
 *   cl         dc_cl_error_name dc_cl_std_from dc_contains_nocase dc_device_describe
 *              dc_device_pick
 *   conv       dc_tiles_generic dc_tiles_default dc_tiles_check dc_tiles_path dc_parse_tile
 *              dc_tiles_load dc_tiles_resolve dc_tiles_fit dc_tuning_write
 *   runtime    dc_head_lines
 *   here       dc_tool_families_text dc_tool_family_name dc_tool_auto_default
 *              dc_tool_check_kernel_params dc_tool_profile_line dc_tool_resolve_text
 */
#ifndef DENSECL_TOOLS_INTERNAL_H
#define DENSECL_TOOLS_INTERNAL_H

#include "runtime/runtime.h"

/* ---------------------------------------------------------------- tools_api.c: the families */

/* `densecl info`'s lines on dev: "convs: ..." (what an engine would resolve for a model with
 * every conv kind, when it resolves) and "conv families:" with one line per family (its
 * parameters' ranges, and why it cannot run a plain 1x1 conv there). Cut to fit cap. */
void dc_tool_families_text(cl_device_id dev, char *buf, size_t cap);
/* The device profile in force (DENSECL_DEVICE_PROFILE, host/cl/device_profile.c) as one line for
 * people into buf, "" when there is none; an error naming the variable when it does not load. */
densecl_status dc_tool_profile_line(char *buf, size_t cap);
/* What an engine on dev resolves for a model of cfg on [n, c, h, w] inputs with conv and
 * kernel_params (NULL: as an engine's defaults): two lines into buf, "convs: ..." as `bench`
 * says it and "build options: ..." (the -D options of the program it builds). */
densecl_status dc_tool_resolve_text(cl_device_id dev, const densecl_config *cfg, int n, int h,
                                    int w, const char *conv, const char *kernel_params, char *buf,
                                    size_t cap);
/* The name of family i of this build's registry (0 is direct), NULL past the last. */
const char *dc_tool_family_name(int i);
/* 1 if auto runs some convs of a DenseNet on `family` on dev by default (without a tuning
 * file), as gemm on GPUs and winograd's 3x3 convs where it measured faster. */
int dc_tool_auto_default(cl_device_id dev, const char *family);
/* Checks a --kernel-params text as an engine would, with `family` the default family of its
 * parts; *set: bit j when parameter j of that family is given. DENSECL_ERR_ARGUMENT naming
 * `what`. */
densecl_status dc_tool_check_kernel_params(const char *text, const char *family, unsigned *set,
                                           const char *what);

#endif
