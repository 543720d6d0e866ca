/* SPDX-License-Identifier: MIT */
/* ref_model.h - a whole DenseNet on the naive reference ops, from a weights handle's tensors by
 * their torchvision names (ref_model.c says what it shares with the library: nothing of plan/
 * and fold). */
#ifndef DENSECL_REF_MODEL_H
#define DENSECL_REF_MODEL_H

#include <stddef.h>

#include "densecl.h"

/* logits [n, classes] of x [n, in_channels, h, w] through w's DenseNet. 1 on success; 0 with
 * why (a missing or mis-sized tensor, no memory). */
int ref_densenet(const densecl_weights *w, const float *x, int n, int h, int wd, float *logits,
                 char *why, size_t cap);

#endif
