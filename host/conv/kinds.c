/* SPDX-License-Identifier: MIT */
/* kinds.c - the conv kinds a replica resolves a family for, and the abi.h DC_CONV_* bit of each */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conv/conv.h"

/* ------------------------------------------------------------------ conv kinds */

static const char *const dc_kind_names[DC_KIND_COUNT] = {"1x1", "3x3", "3x3_pre", "7x7s2", "other"};

const char *dc_kind_name(int kind)
{
    return kind >= 0 && kind < DC_KIND_COUNT ? dc_kind_names[kind] : "?";
}

int dc_conv_kind_of(int k, int stride, int pad, int pre)
{
    if (k == 1 && stride == 1 && pad == 0)
        return DC_KIND_1X1;
    if (k == 3 && stride == 1)
        return pre ? DC_KIND_3X3_PRE : DC_KIND_3X3;
    if (k == 7 && stride == 2 && !pre)
        return DC_KIND_7X7S2;
    return DC_KIND_ANY;
}

unsigned dc_conv_kind(int k, int stride, int pad, int pre)
{
    return 1u << dc_conv_kind_of(k, stride, pad, pre);
}

int dc_op_conv_kind(const dc_op *op)
{
    return dc_conv_kind_of(op->k, op->stride, op->pad, op->pre_bn[0] != '\0');
}
