/* SPDX-License-Identifier: MIT */
/*
 * kernels.cl - the entry point of densecl's OpenCL C kernels: the files of kernels/, in the order
 * a program is built from them. OpenCL C 1.2, no extensions, no fp16.
 *
 *   kernels/abi.h      the constants host (C) and kernels share: flag bits, the direct family's
 *                      weight packing and kernel set
 *   kernels/common.cl  conventions, the inline and concatenation macros, the BN+ReLU prologue
 *   kernels/pool.cl    maxpool, BN+ReLU+avgpool, BN+ReLU+global average pool, linear
 *   kernels/direct.cl  the "direct" conv family (host/conv/direct.c)
 *   kernels/gemm.cl    the "gemm" conv family: local-memory tiled (implicit) GEMMs for GPUs
 *                      (host/conv/gemm.c)
 *   kernels/clblast.cl the "clblast" conv family's pre-pass, im2col and epilogue kernels around
 *                      CLBlast's GEMMs (host/conv/clblast.c)
 *   kernels/winograd.cl the "winograd" conv family: fused Winograd F(2x2, 3x3) for the 3x3/1/1
 *                      convs on CPUs (host/conv/winograd.c)
 *
 * The host (host/runtime/program.c) reads this list, not the #include lines' meaning: it builds ONE
 * program per device from the files below in this order, leaving out the files of conv families
 * (host/conv/conv.h: dc_family.sources) the replica did not resolve to, and puts a
 * `#line 1 "kernels/<file>"` marker before each, so a build log's file:line points into the right
 * file. Every file is embedded at build time (cmake/embed.cmake); DENSECL_KERNELS=path/kernels.cl
 * reads this file and the kernels/ folder beside it instead (a missing file is an error). A new
 * family adds its file here. The file also builds as it is, with -I and the folder of this file.
 */
#include "kernels/abi.h"
#include "kernels/common.cl"
#include "kernels/pool.cl"
#include "kernels/direct.cl"
#include "kernels/gemm.cl"
#include "kernels/clblast.cl"
#include "kernels/winograd.cl"
