/* SPDX-License-Identifier: MIT */
/* ref_ops.c - the naive reference; written for obviousness, not speed. */
#include <math.h>
#include <stddef.h>

#include "ref_ops.h"

/* The BN+ReLU prologue of channel ch, or the identity without one. ReLU as torch's: NaN stays
 * NaN, -inf gives 0. */
static double ref_pro(const float *pre, int c, int ch, float v)
{
    double t;
    if (!pre)
        return v;
    t = (double)v * pre[ch] + pre[c + ch];
    return t > 0.0 || isnan(t) ? t : 0.0;
}

static size_t ref_at(int n, int ctot, int c, int h, int w, int y, int x)
{
    return (((size_t)n * ctot + c) * h + y) * w + x;
}

void ref_conv2d(const ref_conv_args *a)
{
    for (int n = 0; n < a->n; n++)
        for (int co = 0; co < a->cout; co++)
            for (int oy = 0; oy < a->out_h; oy++)
                for (int ox = 0; ox < a->out_w; ox++) {
                    double s = a->bias ? a->bias[co] : 0.0;
                    for (int ci = 0; ci < a->cin; ci++)
                        for (int ky = 0; ky < a->k; ky++)
                            for (int kx = 0; kx < a->k; kx++) {
                                int y = oy * a->stride - a->pad + ky;
                                int x = ox * a->stride - a->pad + kx;
                                if (y < 0 || y >= a->in_h || x < 0 || x >= a->in_w)
                                    continue; /* zero padding, after the prologue */
                                float v = a->in[ref_at(n, a->in_ctot, ci, a->in_h, a->in_w, y, x)];
                                float w =
                                    a->weight[(((size_t)co * a->cin + ci) * a->k + ky) * a->k + kx];
                                s += (double)w * ref_pro(a->pre, a->cin, ci, v);
                            }
                    if (a->relu && s < 0.0)
                        s = 0.0;
                    a->out[ref_at(n, a->out_ctot, a->out_coff + co, a->out_h, a->out_w, oy, ox)] =
                        (float)s;
                }
}

void ref_maxpool(const ref_pool_args *a)
{
    for (int n = 0; n < a->n; n++)
        for (int c = 0; c < a->c; c++)
            for (int oy = 0; oy < a->out_h; oy++)
                for (int ox = 0; ox < a->out_w; ox++) {
                    double m = -INFINITY;
                    for (int ky = 0; ky < a->k; ky++)
                        for (int kx = 0; kx < a->k; kx++) {
                            int y = oy * a->stride - a->pad + ky;
                            int x = ox * a->stride - a->pad + kx;
                            if (y < 0 || y >= a->in_h || x < 0 || x >= a->in_w)
                                continue;
                            double v =
                                ref_pro(a->pre, a->c, c,
                                        a->in[ref_at(n, a->in_ctot, c, a->in_h, a->in_w, y, x)]);
                            if (v > m || isnan(v))
                                m = v; /* torch's rule: a NaN tap wins, only a NaN replaces it */
                        }
                    a->out[ref_at(n, a->out_ctot, a->out_coff + c, a->out_h, a->out_w, oy, ox)] =
                        (float)m;
                }
}

void ref_bnrelu_avgpool(const ref_pool_args *a)
{
    for (int n = 0; n < a->n; n++)
        for (int c = 0; c < a->c; c++)
            for (int oy = 0; oy < a->out_h; oy++)
                for (int ox = 0; ox < a->out_w; ox++) {
                    double s = 0.0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            s += ref_pro(a->pre, a->c, c,
                                         a->in[ref_at(n, a->in_ctot, c, a->in_h, a->in_w,
                                                      2 * oy + dy, 2 * ox + dx)]);
                    a->out[ref_at(n, a->out_ctot, a->out_coff + c, a->out_h, a->out_w, oy, ox)] =
                        (float)(s / 4.0);
                }
}

void ref_bnrelu_gap(const ref_pool_args *a)
{
    for (int n = 0; n < a->n; n++)
        for (int c = 0; c < a->c; c++) {
            double s = 0.0;
            for (int y = 0; y < a->in_h; y++)
                for (int x = 0; x < a->in_w; x++)
                    s += ref_pro(a->pre, a->c, c,
                                 a->in[ref_at(n, a->in_ctot, c, a->in_h, a->in_w, y, x)]);
            a->out[(size_t)n * a->out_ctot + a->out_coff + c] =
                (float)(s / ((double)a->in_h * a->in_w));
        }
}

void ref_linear(const ref_linear_args *a)
{
    for (int n = 0; n < a->n; n++)
        for (int co = 0; co < a->cout; co++) {
            double s = a->bias ? a->bias[co] : 0.0;
            for (int ci = 0; ci < a->cin; ci++)
                s += (double)a->in[(size_t)n * a->cin + ci] * a->weight[(size_t)co * a->cin + ci];
            a->out[(size_t)n * a->cout + co] = (float)s;
        }
}
