/* SPDX-License-Identifier: MIT */
/* embed.c - the smallest complete use of the densecl C API (README, "Embedding").
 *
 *   cc embed.c -o embed $(pkg-config --cflags --libs densecl)  # after cmake --install (README)
 *   cc embed.c -o embed -Iinclude build/libdensecl.a -lOpenCL -lm -lpthread  # from the tree
 *   ./embed weights.safetensors      # a safetensors file, architecture inferred
 *   ./embed                          # seeded random DenseNet-BC-100 weights
 */
#include <stdio.h>
#include <stdlib.h>

#include "densecl.h"

static int fail(const char *what, densecl_status st)
{
    fprintf(stderr, "%s: %s: %s\n", what, densecl_status_str(st), densecl_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    densecl_weights *w = NULL;
    densecl_engine *e = NULL;
    densecl_config cfg;
    densecl_status st;
    int rc = 1;

    if (argc > 1) {
        st = densecl_weights_load(argv[1], NULL, &w); /* NULL: infer the architecture */
    } else {
        densecl_config_preset("densenet-bc-100-k12", &cfg);
        st = densecl_weights_random(&cfg, 42, &w);
    }
    if (st != DENSECL_OK)
        return fail("weights", st);
    cfg = *densecl_weights_config(w);

    st = densecl_engine_create(w, "auto", &e); /* GPU, else accelerator, else CPU */
    densecl_weights_free(w);                   /* uploaded: no longer needed */
    if (st != DENSECL_OK)
        return fail("engine", st);

    /* One image, NCHW float32, already normalised the way the model was trained. */
    int side = cfg.stem == DENSECL_STEM_IMAGENET ? 224 : 32;
    size_t len = (size_t)cfg.in_channels * side * side;
    float *x = malloc(len * sizeof *x);
    float *p = malloc((size_t)cfg.num_classes * sizeof *p);
    if (!x || !p)
        goto done;
    for (size_t i = 0; i < len; i++)
        x[i] = (float)(i % 17) / 8.0f - 1.0f;

    if ((st = densecl_engine_run(e, x, 1, cfg.in_channels, side, side, p)) != DENSECL_OK) {
        rc = fail("run", st);
        goto done;
    }
    densecl_softmax(p, 1, cfg.num_classes);
    int best = 0;
    for (int c = 1; c < cfg.num_classes; c++)
        if (p[c] > p[best])
            best = c;
    printf("class %d, probability %.4f, on %s\n", best, p[best], densecl_engine_device(e)->name);
    rc = 0;
done:
    free(x);
    free(p);
    densecl_engine_free(e);
    return rc;
}
