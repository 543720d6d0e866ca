/* SPDX-License-Identifier: MIT */
/* test_model_reference.c - whole engine runs against a DenseNet on the naive reference ops
 * (tests/support/ref_model.c: torchvision's module order, BN as torch defines it, no plan, no
 * fold, no kernel of ours), for tiny models the unit label can afford: an ImageNet stem (conv,
 * BN, ReLU, max-pool) with bottlenecks, a CIFAR-stem DenseNet-BC with three blocks, and a
 * DenseNet without bottleneck or compression on one channel, at odd input sizes (transitions
 * that drop a row and a column) and batches of 2 and 3. The model tests do the same against
 * torchvision on real sizes; this is the fast check that the plan, the fold, the packing and the
 * scheduler put the right numbers together.
 *
 * Tolerance: per image, max |got - ref| <= 1e-4 * max |ref| (the model tests' rule), and the
 * same top class wherever the reference's top two logits are further apart than that. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "densecl.h"
#include "ref_model.h"

static float *noise(size_t count, uint32_t seed)
{
    float *x = malloc(count * sizeof *x);
    for (size_t i = 0; x && i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return x;
}

static void run_case(const char *what, const densecl_config *cfg, int n, int h, int w,
                     uint64_t seed)
{
    densecl_weights *wt = NULL;
    densecl_engine *e = NULL;
    const int classes = cfg->num_classes;
    float *x = noise((size_t)n * cfg->in_channels * h * w, (uint32_t)seed);
    float *got = calloc((size_t)n * classes, sizeof *got);
    float *ref = calloc((size_t)n * classes, sizeof *ref);
    char why[512];
    densecl_status st = densecl_weights_random(cfg, seed, &wt);
    CHECKF(st == DENSECL_OK, "%s: random weights: %s", what, densecl_last_error());
    if (st != DENSECL_OK || !x || !got || !ref)
        goto done;
    st = densecl_engine_create(wt, "auto", &e);
    if (st == DENSECL_OK)
        st = densecl_engine_run(e, x, n, cfg->in_channels, h, w, got);
    CHECKF(st == DENSECL_OK, "%s: engine: %s", what, densecl_last_error());
    int ok = ref_densenet(wt, x, n, h, w, ref, why, sizeof why);
    CHECKF(ok, "%s: reference: %s", what, why);
    if (st != DENSECL_OK || !ok)
        goto done;
    for (int i = 0; i < n; i++) {
        const float *r = ref + (size_t)i * classes, *g = got + (size_t)i * classes;
        double diff = 0.0, big = 0.0;
        int ra = 0, ga = 0, second = -1;
        for (int c = 0; c < classes; c++) {
            double d = fabs((double)g[c] - r[c]);
            diff = d > diff || isnan(d) ? d : diff;
            big = fabs(r[c]) > big ? fabs(r[c]) : big;
            ra = r[c] > r[ra] ? c : ra;
            ga = g[c] > g[ga] ? c : ga;
        }
        for (int c = 0; c < classes; c++)
            if (c != ra && (second < 0 || r[c] > r[second]))
                second = c;
        const double tol = 1e-4 * big;
        const int near_tie = second >= 0 && r[ra] - r[second] <= 2 * tol;
        CHECKF(diff <= tol && (ra == ga || near_tie),
               "%s, image %d of %d (%dx%d): max|diff| %.3g (limit %.3g), top class %d, the "
               "reference's %d",
               what, i, n, w, h, diff, tol, ga, ra);
        printf("%s, image %d: max|diff| %.3g (limit %.3g)\n", what, i, diff, tol);
    }
done:
    densecl_engine_free(e);
    densecl_weights_free(wt);
    free(x);
    free(got);
    free(ref);
}

int main(void)
{
    /* ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), bottlenecks, one transition. */
    densecl_config imagenet = {.growth_rate = 4,
                               .num_blocks = 2,
                               .block_layers = {2, 1},
                               .init_features = 8,
                               .bottleneck = 1,
                               .bn_size = 2,
                               .compression = 0.5f,
                               .stem = DENSECL_STEM_IMAGENET,
                               .in_channels = 3,
                               .num_classes = 5};
    /* DenseNet-BC, CIFAR stem, three blocks: two transitions at odd sizes. */
    densecl_config bc = {.growth_rate = 6,
                         .num_blocks = 3,
                         .block_layers = {2, 2, 1},
                         .init_features = 12,
                         .bottleneck = 1,
                         .bn_size = 4,
                         .compression = 0.5f,
                         .stem = DENSECL_STEM_CIFAR,
                         .in_channels = 3,
                         .num_classes = 7};
    /* No bottleneck, no compression, one input channel (DenseNet-40's kind). */
    densecl_config plain = {.growth_rate = 5,
                            .num_blocks = 2,
                            .block_layers = {2, 2},
                            .init_features = 6,
                            .bottleneck = 0,
                            .bn_size = 4,
                            .compression = 1.0f,
                            .stem = DENSECL_STEM_CIFAR,
                            .in_channels = 1,
                            .num_classes = 4};
    run_case("ImageNet stem, bottlenecks", &imagenet, 2, 37, 35, 11);
    run_case("DenseNet-BC, three blocks", &bc, 3, 15, 13, 12);
    run_case("no bottleneck, one channel", &plain, 2, 9, 11, 13);
    return check_summary();
}
