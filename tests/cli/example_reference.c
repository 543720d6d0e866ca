/* SPDX-License-Identifier: MIT */
/* example_reference.c - the examples' numbers against the reference: the same inputs as the
 * examples build, through a whole DenseNet on the naive reference ops (tests/support/
 * ref_model.c), which shares nothing with the engine's plan, fold or kernels.
 *
 *   example_reference embed OUTPUT [WEIGHTS]
 *       OUTPUT holds what examples/embed.c printed for WEIGHTS (none: its seeded random
 *       DenseNet-BC-100): "class C (NAME), probability P, on DEVICE". C must be the
 *       reference's top class, NAME its label ("unnamed" without labels), and P its softmax
 *       probability p within 5e-5 (P's printed digits) + 2 p (1 - p) * 1e-4 * max|logit| + 1e-6:
 *       the model tests' logit tolerance through softmax (dp_i = p_i (dz_i - sum_j p_j dz_j),
 *       so |dp_i| <= 2 p_i (1 - p_i) max|dz|), plus a little for the second order. The
 *       reference's top two logits must be further apart than twice the logit tolerance, so
 *       that the class means something.
 *   example_reference pipeline WEIGHTS|- BATCH LOGITS.f32
 *       LOGITS.f32 holds the first batch's logits that examples/pipeline.c wrote (raw float32
 *       [BATCH, classes]); its inputs are pipeline.c's seeded noise (seed 1000). Every image:
 *       max |diff| <= 1e-4 * max |reference| (the model tests' rule), and the same argmax.
 *
 * The inputs are rebuilt here as the examples build them (keep them in step). Exit status 0
 * when everything matches, 1 on a mismatch, 2 on a usage or setup error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "densecl.h"
#include "ref_model.h"

static int setup_error(const char *what)
{
    fprintf(stderr, "example_reference: %s: %s\n", what, densecl_last_error());
    return 2;
}

/* The example's weights: the file, or its seeded random DenseNet-BC-100 (seed 42). */
static densecl_status load(const char *path, densecl_weights **w)
{
    densecl_config cfg;
    if (path && strcmp(path, "-") != 0)
        return densecl_weights_load(path, NULL, w);
    densecl_config_preset("densenet-bc-100-k12", &cfg);
    return densecl_weights_random(&cfg, 42, w);
}

/* examples/embed.c's input: a 300 x 200 gradient through the weights' preprocessing, or its
 * 32 x 32 stand-in for weights without one. */
static int embed_input(const densecl_weights *w, densecl_preprocess *pp, float **x)
{
    const densecl_config *cfg = densecl_weights_config(w);
    densecl_status st = densecl_weights_preprocess(w, pp);
    if (st == DENSECL_ERR_UNSUPPORTED)
        *pp = (densecl_preprocess){.channels = cfg->in_channels,
                                   .height = 32,
                                   .width = 32,
                                   .mean = {0.5f, 0.5f, 0.5f},
                                   .std = {0.25f, 0.25f, 0.25f}};
    else if (st != DENSECL_OK)
        return 0;
    const int iw = 300, ih = 200;
    unsigned char *rgb = malloc((size_t)iw * ih * 3);
    *x = malloc((size_t)pp->channels * pp->height * pp->width * sizeof **x);
    if (!rgb || !*x) {
        free(rgb);
        return 0;
    }
    for (int y = 0; y < ih; y++)
        for (int i = 0; i < iw; i++) {
            unsigned char *px = rgb + ((size_t)y * iw + i) * 3;
            px[0] = (unsigned char)(i * 255 / (iw - 1));
            px[1] = (unsigned char)(y * 255 / (ih - 1));
            px[2] = (unsigned char)((i + y) % 256);
        }
    st = densecl_image_to_input(pp, rgb, iw, ih, 3, 8, 0, *x);
    free(rgb);
    return st == DENSECL_OK;
}

static int embed(const char *output, const char *weights)
{
    densecl_weights *w = NULL;
    densecl_preprocess pp;
    float *x = NULL, *z = NULL;
    char line[1024] = "", name[512], want[700], why[512];
    int rc = 2, got_class = -1;
    double got_p = -1.0;
    FILE *f = fopen(output, "r");
    if (!f || !fgets(line, sizeof line, f)) {
        fprintf(stderr, "example_reference: cannot read the example's output %s\n", output);
        if (f)
            fclose(f);
        return 2;
    }
    fclose(f);
    if (load(weights, &w) != DENSECL_OK)
        return setup_error("weights");
    const densecl_config *cfg = densecl_weights_config(w);
    if (!embed_input(w, &pp, &x) || !(z = malloc((size_t)cfg->num_classes * sizeof *z))) {
        rc = setup_error("input");
        goto done;
    }
    if (!ref_densenet(w, x, 1, pp.height, pp.width, z, why, sizeof why)) {
        fprintf(stderr, "example_reference: %s\n", why);
        goto done;
    }
    /* softmax in double; the top two logits */
    int best = 0, second = -1;
    double mx = z[0], zmax = 0.0, sum = 0.0;
    for (int c = 0; c < cfg->num_classes; c++) {
        mx = z[c] > mx ? z[c] : mx;
        zmax = fabs(z[c]) > zmax ? fabs(z[c]) : zmax;
    }
    for (int c = 0; c < cfg->num_classes; c++)
        sum += exp(z[c] - mx);
    for (int c = 1; c < cfg->num_classes; c++)
        if (z[c] > z[best])
            best = c;
    for (int c = 0; c < cfg->num_classes; c++)
        if (c != best && (second < 0 || z[c] > z[second]))
            second = c;
    const double p = exp(z[best] - mx) / sum;
    const double tol = 5e-5 + 2.0 * p * (1.0 - p) * 1e-4 * zmax + 1e-6;
    const double margin = second >= 0 ? z[best] - z[second] : INFINITY;
    const char *label = densecl_weights_label(w, best);
    snprintf(name, sizeof name, "%s", label ? label : "unnamed");
    snprintf(want, sizeof want, "class %d (%s), probability ", best, name);
    const char *at = strstr(line, "probability ");
    if (strncmp(line, "class ", 6) == 0)
        got_class = atoi(line + 6);
    if (at)
        got_p = strtod(at + 12, NULL);
    printf("example:   %s", line);
    printf("reference: class %d (%s), probability %.6f (tolerance %.2g), top-2 logit margin "
           "%.3g\n",
           best, name, p, tol, margin);
    rc = 1;
    if (margin <= 2e-4 * zmax)
        printf("FAIL: the reference's top two classes are within the tolerance: this input "
               "cannot tell a wrong class from a right one\n");
    else if (strncmp(line, want, strlen(want)) != 0)
        printf("FAIL: want the line to start '%s' (the example said class %d)\n", want, got_class);
    else if (!(fabs(got_p - p) <= tol))
        printf("FAIL: probability %.6f, the reference's %.6f (|diff| %.2g > %.2g)\n", got_p, p,
               fabs(got_p - p), tol);
    else {
        printf("ok: the example's class and probability are the reference's\n");
        rc = 0;
    }
done:
    free(x);
    free(z);
    densecl_weights_free(w);
    return rc;
}

/* examples/pipeline.c's fill(): seeded noise in [-1, 1). */
static void fill(float *x, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static int pipeline(const char *weights, int batch, const char *logits)
{
    densecl_weights *w = NULL;
    densecl_preprocess pp;
    float *x = NULL, *ref = NULL, *got = NULL;
    char why[512];
    int rc = 2;
    if (load(weights, &w) != DENSECL_OK)
        return setup_error("weights");
    const densecl_config *cfg = densecl_weights_config(w);
    int h = cfg->stem == DENSECL_STEM_IMAGENET ? 224 : 32, wd = h;
    if (densecl_weights_preprocess(w, &pp) == DENSECL_OK) {
        h = pp.height;
        wd = pp.width;
    }
    const size_t len = (size_t)batch * cfg->in_channels * h * wd;
    const size_t out = (size_t)batch * cfg->num_classes;
    x = malloc(len * sizeof *x);
    ref = malloc(out * sizeof *ref);
    got = malloc((out + 1) * sizeof *got);
    FILE *f = fopen(logits, "rb");
    size_t read = f && got ? fread(got, sizeof *got, out + 1, f) : 0;
    if (f)
        fclose(f);
    if (!x || !ref || !got || read != out) {
        fprintf(stderr, "example_reference: %s: want %zu float32 logits, read %zu\n", logits, out,
                read);
        goto done;
    }
    fill(x, len, 1000u);
    if (!ref_densenet(w, x, batch, h, wd, ref, why, sizeof why)) {
        fprintf(stderr, "example_reference: %s\n", why);
        goto done;
    }
    rc = 0;
    for (int i = 0; i < batch; i++) {
        const float *r = ref + (size_t)i * cfg->num_classes,
                    *g = got + (size_t)i * cfg->num_classes;
        double diff = 0.0, big = 0.0;
        int ra = 0, ga = 0;
        for (int c = 0; c < cfg->num_classes; c++) {
            double d = fabs((double)g[c] - r[c]);
            diff = d > diff || isnan(d) ? d : diff;
            big = fabs(r[c]) > big ? fabs(r[c]) : big;
            ra = r[c] > r[ra] ? c : ra;
            ga = g[c] > g[ga] ? c : ga;
        }
        const int good = diff <= 1e-4 * big && ra == ga;
        printf("%s image %d: max|diff| %.3g (limit %.3g), argmax %d, the reference's %d\n",
               good ? "ok  " : "FAIL", i, diff, 1e-4 * big, ga, ra);
        rc = good ? rc : 1;
    }
done:
    free(x);
    free(ref);
    free(got);
    densecl_weights_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "embed") == 0)
        return embed(argv[2], argc == 4 ? argv[3] : NULL);
    if (argc == 5 && strcmp(argv[1], "pipeline") == 0 && atoi(argv[3]) > 0)
        return pipeline(argv[2], atoi(argv[3]), argv[4]);
    fprintf(stderr, "usage: example_reference embed OUTPUT [WEIGHTS]\n"
                    "       example_reference pipeline WEIGHTS|- BATCH LOGITS.f32\n");
    return 2;
}
