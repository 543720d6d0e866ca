/* SPDX-License-Identifier: MIT */
/* embed.c - the smallest complete use of the densecl C API (README, "Embedding"): weights in,
 * an image's pixels made into the model's input as the weights say, one inference, the class
 * name out.
 *
 * Built (README, "Install and link", whose lines the readme test runs):
 *   cc embed.c -o embed $(pkg-config --cflags --libs densecl)  # after cmake --install
 *   cc embed.c -o embed $(pkg-config --cflags densecl) \
 *       $(pkg-config --libs --static densecl | sed 's/-ldensecl/-l:libdensecl.a/')  # static
 *   cc examples/embed.c -o embed -Iinclude -Lbuild -Wl,-rpath,"$PWD/build" -ldensecl  # the tree
 *   cc examples/embed.c -o embed -Iinclude build/libdensecl.a -lOpenCL -lprotobuf-c -lclblast \
 *       -lm -lpthread     # the tree, static (-lclblast when CMake found CLBlast)
 *   ./embed weights.safetensors      # safetensors or ONNX, architecture inferred
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
    densecl_preprocess pp;
    densecl_status st;
    unsigned char *rgb = NULL;
    float *x = NULL, *p = NULL;
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

    /* How an image becomes the model's input: the weights' "densecl.preprocess" metadata
     * (densecl-export --size/--resize/--mean/--std writes it), or torchvision's ImageNet
     * preprocessing for an ImageNet-stem model. Random CIFAR weights have neither: say it. */
    if ((st = densecl_weights_preprocess(w, &pp)) != DENSECL_OK) {
        if (st != DENSECL_ERR_UNSUPPORTED) {
            rc = fail("preprocessing", st);
            goto done;
        }
        pp = (densecl_preprocess){.channels = cfg.in_channels,
                                  .height = 32,
                                  .width = 32,
                                  .mean = {0.5f, 0.5f, 0.5f},
                                  .std = {0.25f, 0.25f, 0.25f}};
    }

    st = densecl_engine_create(w, "auto", &e); /* GPU, else accelerator, else CPU */
    if (st != DENSECL_OK) {
        rc = fail("engine", st);
        goto done;
    }

    /* The pixels of a decoded 8-bit RGB image (stb_image, libpng, libjpeg: decoding is the
     * caller's; EXIF orientation is not applied). Here a 300 x 200 gradient. */
    const int iw = 300, ih = 200;
    size_t len = (size_t)pp.channels * (size_t)pp.height * (size_t)pp.width;
    rgb = malloc((size_t)iw * ih * 3);
    x = malloc(len * sizeof *x);
    p = malloc((size_t)cfg.num_classes * sizeof *p);
    if (!rgb || !x || !p)
        goto done;
    for (int y = 0; y < ih; y++)
        for (int i = 0; i < iw; i++) {
            unsigned char *px = rgb + ((size_t)y * iw + i) * 3;
            px[0] = (unsigned char)(i * 255 / (iw - 1));
            px[1] = (unsigned char)(y * 255 / (ih - 1));
            px[2] = (unsigned char)((i + y) % 256);
        }
    /* Resize, crop and normalise as classify does: out is [channels][height][width]. */
    if ((st = densecl_image_to_input(&pp, rgb, iw, ih, 3, 8, 0, x)) != DENSECL_OK) {
        rc = fail("image", st);
        goto done;
    }

    if ((st = densecl_engine_run(e, x, 1, pp.channels, pp.height, pp.width, p)) != DENSECL_OK) {
        rc = fail("run", st);
        goto done;
    }
    densecl_softmax(p, 1, cfg.num_classes);
    int best = 0;
    for (int c = 1; c < cfg.num_classes; c++)
        if (p[c] > p[best])
            best = c;
    const char *name = densecl_weights_label(w, best); /* NULL: the weights name no classes */
    printf("class %d (%s), probability %.4f, on %s\n", best, name ? name : "unnamed", p[best],
           densecl_engine_device(e)->name);
    rc = 0;
done:
    free(rgb);
    free(x);
    free(p);
    densecl_engine_free(e);
    densecl_weights_free(w); /* the engine holds its own copy on the device */
    return rc;
}
