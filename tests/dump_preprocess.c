/* SPDX-License-Identifier: MIT */
/*
 * dump_preprocess.c - wrote the fixtures of tests/data/image_to_input/ with classify's own path
 * (dci_image_decode + dci_preprocess_run of tools/inputs/) before preprocessing moved into the
 * library, so that densecl_image_to_input can be held to it bit for bit afterwards. Not a test;
 * run once from the build tree:
 *   build/tests/dump_preprocess tests/data/image_to_input
 * writes IMAGE.CASE.f32 (raw float32, [channels, height, width]) for each small case and the
 * FNV-1a hashes of the hashed ones to hashes.txt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_to_input_cases.h"
#include "inputs.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dump_preprocess DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[4096];
    snprintf(path, sizeof(path), "%s/hashes.txt", dir);
    FILE *hashes = fopen(path, "w");
    if (!hashes) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < sizeof(iti_images) / sizeof(iti_images[0]); i++) {
        void *bytes;
        size_t len;
        dci_image im;
        snprintf(path, sizeof(path), "%s/%s", dir, iti_images[i]);
        if (dci_read_file(path, &bytes, &len) != DENSECL_OK ||
            dci_image_decode(bytes, len, path, &im) != DENSECL_OK) {
            fprintf(stderr, "%s\n", densecl_last_error());
            return 1;
        }
        free(bytes);
        for (size_t k = 0; k < sizeof(iti_cases) / sizeof(iti_cases[0]); k++) {
            const iti_case *t = &iti_cases[k];
            dci_preprocess pp;
            memset(&pp, 0, sizeof(pp));
            pp.channels = t->channels;
            pp.height = t->height;
            pp.width = t->width;
            pp.resize = t->resize;
            pp.resize_h = t->resize_h;
            pp.resize_w = t->resize_w;
            pp.crop_h = t->crop_h;
            pp.crop_w = t->crop_w;
            memcpy(pp.mean, t->mean, sizeof(pp.mean));
            memcpy(pp.std, t->std, sizeof(pp.std));
            size_t n = (size_t)t->channels * (size_t)t->height * (size_t)t->width;
            float *out = malloc(n * sizeof(float));
            if (!out || dci_preprocess_run(&pp, &im.px, path, out) != DENSECL_OK) {
                fprintf(stderr, "%s: %s\n", path, densecl_last_error());
                return 1;
            }
            if (t->hashed) {
                fprintf(hashes, "%s %s %016llx\n", iti_images[i], t->name,
                        iti_fnv1a(out, n * sizeof(float)));
            } else {
                char fix[4096];
                snprintf(fix, sizeof(fix), "%s/%s.%s.f32", dir, iti_images[i], t->name);
                FILE *f = fopen(fix, "wb");
                if (!f || fwrite(out, sizeof(float), n, f) != n || fclose(f) != 0) {
                    perror(fix);
                    return 1;
                }
            }
            free(out);
        }
        dci_image_free(&im);
    }
    return fclose(hashes) == 0 ? 0 : 1;
}
