/* SPDX-License-Identifier: MIT */
/*
 * abi.h - the constants the host (C) and the kernels (OpenCL C) share. Plain #defines only, so
 * that both languages include this one file and nothing is copied between them.
 */
#ifndef DENSECL_ABI_H
#define DENSECL_ABI_H

/* Flag bits of a conv, pool or linear kernel's last argument. */
#define DC_FLAG_BIAS 1 /* add the bias vector */
#define DC_FLAG_PRE 2  /* apply the BN+ReLU prologue max(x * scale + shift, 0) to each input */
#define DC_FLAG_RELU 4 /* ReLU on the output */

/* The direct family: output channels per block of packed conv weights. */
#define DC_CONV_PACK 16
/* The direct family's 7x7/2 stem kernel: at most this many pixels and channels per tile,
 * whatever the tiles say (compile time on POCL 3.1: 0.7 s at 4 pixels, 1.8 s at 8). */
#define DC_CONV_TPX7 4
#define DC_CONV_TCO7 16
/* Where the direct family's conv vectors are 16 wide (CONV_VEC 16, AVX-512 CPUs), its 7x7/2
 * kernel takes tiles of 16 output pixels x DC_CONV_PACK channels instead (direct.cl
 * dc_conv7x7s2_vec), on images at least this wide whose output is at least 16 wide
 * (narrower ones take the generic loop). */
#define DC_CONV_STEM_MIN_W 32
/* The direct family's staged 1x1 kernel (CONV_STAGE): input channels staged in local memory at
 * a time (direct.cl dc_conv1x1_staged; the host sizes the buffer by it). */
#define DC_CONV_STAGE_KC 128
/* Its pair tiles (CONV_PAIRS, direct.cl dc_conv1x1_pairs): input channels staged at a time, each
 * as 64 floats (8 pixels, each spread over 8 lanes); a channel tile's sums are 256 floats. */
#define DC_CONV_PAIR_KC 64

/* Conv kernels whose work-items share their tiles through a counter (the direct and winograd
 * families' DYN, common.cl DC_TILES_FOR): tiles the direct kernels' work-items take at a time,
 * consecutive tiles that share their input or weights in cache (what a work-group of 8 took
 * when there was one work-item per tile). */
#define DC_CONV_DYN_CHUNK 8

/* The direct family's conv kernels as a set (-DCONV_KERNELS): a program holds only those its
 * model uses, since POCL's build optimizes every kernel of the source. */
#define DC_CONV_1X1 1     /* densecl_conv1x1: 1x1/1/0 */
#define DC_CONV_3X3 2     /* densecl_conv3x3: 3x3/1 without prologue */
#define DC_CONV_3X3_PRE 4 /* densecl_conv3x3_pre: 3x3/1 with the BN+ReLU prologue */
#define DC_CONV_7X7S2 8   /* densecl_conv7x7s2: 7x7/2 without prologue */
#define DC_CONV_ANY 16    /* densecl_conv2d: every other conv */
#define DC_CONV_ALL 31

#endif /* DENSECL_ABI_H */
