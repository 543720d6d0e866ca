/* SPDX-License-Identifier: MIT */
/* test_softmax.c - densecl_softmax (classify's and the Python module's probabilities) on rows
 * that a softmax without the max subtraction gets wrong, and its NaN/Inf rule.
 *
 * Finite rows: expected values are the closed forms of softmax in double (exp of differences
 * only, so they cannot overflow), compared at |got - want| <= 1e-6 * want + 1e-30: the float
 * result is rounded once from a double sum, so the relative error is a few float ulps. Rows
 * with logits above 88.72 (expf overflows to inf) or below -103.97 (expf underflows to 0) give
 * NaN without the max subtraction.
 *
 * The NaN/Inf rule is torch.softmax's (torch 1.13, CPU, checked by hand against
 * torch.softmax(x, 1)): a row holding a NaN or a +inf is NaN throughout (inf - inf is NaN);
 * -inf entries get probability 0 and the others are as if they were absent; a row of -inf only
 * is NaN throughout. Every row is independent: a NaN row leaves its neighbours alone. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "densecl.h"

enum { MAX_COLS = 8 };

/* want[i] = exp(x[i] - m) / sum_j exp(x[j] - m), m the row's max, all in double. */
static void closed_form(const double *x, int cols, double *want)
{
    double m = x[0], s = 0.0;
    for (int c = 1; c < cols; c++)
        m = x[c] > m ? x[c] : m;
    for (int c = 0; c < cols; c++)
        s += exp(x[c] - m);
    for (int c = 0; c < cols; c++)
        want[c] = exp(x[c] - m) / s;
}

/* One finite row through densecl_softmax, against its closed form. */
static void finite_row(const char *what, const double *x, int cols)
{
    float row[MAX_COLS];
    double xf[MAX_COLS], want[MAX_COLS], sum = 0.0;
    for (int c = 0; c < cols; c++) {
        row[c] = (float)x[c];
        xf[c] = row[c]; /* the closed form of the float logits the function is given */
    }
    closed_form(xf, cols, want);
    densecl_softmax(row, 1, cols);
    for (int c = 0; c < cols; c++) {
        CHECKF(fabs(row[c] - want[c]) <= 1e-6 * want[c] + 1e-30, "%s: p[%d] = %.9g, want %.9g",
               what, c, (double)row[c], want[c]);
        sum += row[c];
    }
    CHECKF(fabs(sum - 1.0) <= 1e-6, "%s: probabilities sum to %.9g", what, sum);
}

static void test_finite_rows(void)
{
    static const struct {
        const char *what;
        int cols;
        double x[MAX_COLS];
    } rows[] = {
        {"large, two equal", 3, {1000.0, 1000.0, 999.0}},
        {"just above expf's overflow", 4, {88.8, 89.5, 90.0, 80.0}},
        {"large and spread", 3, {3.0e4, 2.99995e4, 2.9999e4}},
        {"all equal and large", 5, {500.0, 500.0, 500.0, 500.0, 500.0}},
        {"all equal, zero", 4, {0.0, 0.0, 0.0, 0.0}},
        {"negative, below expf's underflow", 3, {-1000.0, -1000.0, -1001.0}},
        {"very negative and spread", 4, {-200.0, -201.5, -203.0, -250.0}},
        {"one far above the rest (a probability of 1)", 3, {100.0, 0.0, -5.0}},
        {"mixed signs, ordinary", 6, {-2.5, 0.25, 3.0, -1.0, 0.0, 1.75}},
        {"one column", 1, {12345.0}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        finite_row(rows[i].what, rows[i].x, rows[i].cols);
}

/* Several rows in one call: each row on its own (a NaN row does not spread), rows = 0 writes
 * nothing. */
static void test_rows_independent(void)
{
    float x[3][4] = {{1.0f, 2.0f, 3.0f, 4.0f},
                     {1.0f, NAN, 3.0f, 4.0f},
                     {-1000.0f, -1000.0f, -1000.0f, -1000.0f}};
    double want0[4], x0[4] = {1.0, 2.0, 3.0, 4.0};
    closed_form(x0, 4, want0);
    densecl_softmax(&x[0][0], 3, 4);
    for (int c = 0; c < 4; c++) {
        CHECKF(fabs(x[0][c] - want0[c]) <= 1e-6 * want0[c], "row 0 p[%d] = %.9g, want %.9g", c,
               (double)x[0][c], want0[c]);
        CHECKF(isnan(x[1][c]), "row 1 (a NaN) p[%d] = %g, want NaN", c, (double)x[1][c]);
        CHECKF(x[2][c] == 0.25f, "row 2 (equal, -1000) p[%d] = %.9g, want 0.25", c,
               (double)x[2][c]);
    }
    float untouched[2] = {5.0f, 7.0f};
    densecl_softmax(untouched, 0, 2);
    CHECK(untouched[0] == 5.0f && untouched[1] == 7.0f);
}

/* The NaN/Inf rule (torch.softmax's). */
static void test_nan_inf(void)
{
    static const struct {
        const char *what;
        int cols;
        float x[4];
        int all_nan;   /* 1: every probability NaN */
        float want[4]; /* else these, exactly */
    } rows[] = {
        {"NaN first", 3, {NAN, 0.0f, 1.0f}, 1, {0}},
        {"NaN in the middle", 3, {0.0f, NAN, 1.0f}, 1, {0}},
        {"NaN last, after large logits", 3, {1000.0f, 999.0f, NAN}, 1, {0}},
        {"+inf", 3, {INFINITY, 0.0f, 1.0f}, 1, {0}},
        {"two +inf", 3, {0.0f, INFINITY, INFINITY}, 1, {0}},
        {"+inf and -inf", 2, {-INFINITY, INFINITY}, 1, {0}},
        {"-inf only", 3, {-INFINITY, -INFINITY, -INFINITY}, 1, {0}},
        {"-inf beside equal finite logits", 3, {-INFINITY, 7.0f, 7.0f}, 0, {0.0f, 0.5f, 0.5f}},
        {"-inf beside one finite logit",
         4,
         {-INFINITY, -INFINITY, 3000.0f, -INFINITY},
         0,
         {0.0f, 0.0f, 1.0f, 0.0f}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        float row[4];
        memcpy(row, rows[i].x, sizeof row);
        densecl_softmax(row, 1, rows[i].cols);
        for (int c = 0; c < rows[i].cols; c++) {
            if (rows[i].all_nan)
                CHECKF(isnan(row[c]), "%s: p[%d] = %g, want NaN (torch.softmax)", rows[i].what, c,
                       (double)row[c]);
            else
                CHECKF(row[c] == rows[i].want[c], "%s: p[%d] = %.9g, want %.9g", rows[i].what, c,
                       (double)row[c], (double)rows[i].want[c]);
        }
    }
    /* A -inf among ordinary logits: the others as if it were absent. */
    float row[4] = {1.0f, -INFINITY, 2.0f, 0.5f};
    double x[3] = {1.0, 2.0, 0.5}, want[3];
    closed_form(x, 3, want);
    densecl_softmax(row, 1, 4);
    CHECKF(row[1] == 0.0f, "-inf among finite logits: p = %g, want 0", (double)row[1]);
    CHECKF(fabs(row[0] - want[0]) <= 1e-6 * want[0] && fabs(row[2] - want[1]) <= 1e-6 * want[1] &&
               fabs(row[3] - want[2]) <= 1e-6 * want[2],
           "-inf among finite logits: %.9g %.9g %.9g, want %.9g %.9g %.9g", (double)row[0],
           (double)row[2], (double)row[3], want[0], want[1], want[2]);
}

int main(void)
{
    test_finite_rows();
    test_rows_independent();
    test_nan_inf();
    return check_summary();
}
