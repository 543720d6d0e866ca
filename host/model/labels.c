/* SPDX-License-Identifier: MIT */
/*
 * labels.c - class names from the "densecl.labels" metadata (densecl.h:
 * densecl_weights_label_count / densecl_weights_label), parsed once when weights are loaded so
 * that the accessors are plain reads on a handle many threads may share. No printing beyond
 * dc_log.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

void dc_names_free(char **names, int count)
{
    if (names) {
        for (int i = 0; i < count; i++) {
            free(names[i]);
        }
        free(names);
    }
}

densecl_status dc_names_parse_json(const char *json, int classes, const char *what, char ***names)
{
    dc_json root;
    *names = NULL;
    if (classes < 1) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d classes", what, classes);
    }
    densecl_status st = dc_json_parse(json, strlen(json), what, &root);
    if (st != DENSECL_OK) {
        return st;
    }
    if (root.type != DC_JSON_ARRAY || root.count != classes) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: want a JSON array of %d class names", what, classes);
        goto done;
    }
    for (int i = 0; i < classes; i++) {
        if (root.items[i].type != DC_JSON_STRING) {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: class name %d is not a string", what, i);
            goto done;
        }
    }
    char **out = calloc((size_t)classes, sizeof(char *));
    if (!out) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
        goto done;
    }
    for (int i = 0; i < classes; i++) {
        /* the JSON parser refuses embedded NULs: strlen is the string's length */
        if (!(out[i] = strdup(root.items[i].string))) {
            dc_names_free(out, classes);
            st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
            goto done;
        }
    }
    *names = out;
done:
    dc_json_free(&root);
    return st;
}

void dc_weights_load_labels(densecl_weights *w)
{
    const char *meta = dc_tensor_meta(&w->tensors, "densecl.labels");
    char what[1024];
    if (!meta) {
        return;
    }
    snprintf(what, sizeof what, "%s: densecl.labels", w->path ? w->path : "weights");
    if (dc_names_parse_json(meta, w->cfg.num_classes, what, &w->labels) == DENSECL_OK) {
        w->label_count = w->cfg.num_classes;
        return;
    }
    /* Not a reason to refuse weights that load today: the names are left out, and said so. */
    dc_log(DENSECL_LOG_WARN, "%s; no class names", densecl_last_error());
    dc_clear_error();
}

int densecl_weights_label_count(const densecl_weights *w)
{
    return w ? w->label_count : 0;
}

const char *densecl_weights_label(const densecl_weights *w, int index)
{
    return w && index >= 0 && index < w->label_count ? w->labels[index] : NULL;
}
