/* Checking a Conv2d against a double-precision reference written in the
 * test: the reference's buffers and the fill / reference / forward /
 * backward sequence the Conv2d reference tests share. */
#ifndef TINYCNN_TESTS_CONV_REF_UTIL_H
#define TINYCNN_TESTS_CONV_REF_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tinycnn/layer_check.h"

/* The reference's y, dx, dw and db in one block, owned through y. */
typedef struct {
    double *y, *dx, *dw, *db;
    int64_t ny, nx, nw;
} cr_ref;

/* The geometry of a Conv2d case, per axis. */
typedef struct {
    int64_t n, c, h, w; /* input */
    int64_t o, groups;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} cr_geom;

/* Per element of y, dx and dw: the sum of the magnitudes of its terms (the
 * scale of the rounding error a check may allow). */
typedef struct {
    double *y, *dx, *dw;
} cr_mag;

/* y[n][o][i][j] = b[o] + sum over c in o's group, ki, kj of
 *   x[n][c][i*sh - ph + ki*dh][j*sw - pw + kj*dw] * w[o][c - group start][ki][kj]
 * (0 outside the image), and the gradients of sum(y * dy), all in double;
 * with mag (NULL: not wanted), the magnitudes of their terms too. */
static inline void cr_reference(const cr_geom *k, int64_t oh, int64_t ow, const float *x,
                                const float *w, const float *b, const float *dy, double *y,
                                double *dx, double *dw, double *db, const cr_mag *mag)
{
    const int64_t cg = k->c / k->groups, og = k->o / k->groups;
    const size_t nx = (size_t)(k->n * k->c * k->h * k->w), nw = (size_t)(k->o * cg * k->kh * k->kw);
    memset(dx, 0, sizeof(double) * nx);
    memset(dw, 0, sizeof(double) * nw);
    memset(db, 0, sizeof(double) * (size_t)k->o);
    if (mag) {
        memset(mag->dx, 0, sizeof(double) * nx);
        memset(mag->dw, 0, sizeof(double) * nw);
    }
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int64_t yi = ((n * k->o + o) * oh + i) * ow + j;
                    double acc = b ? b[o] : 0.0, g = dy[yi], ya = fabs(acc);
                    for (int64_t cl = 0; cl < cg; cl++) {
                        int64_t c = (o / og) * cg + cl;
                        for (int64_t ki = 0; ki < k->kh; ki++)
                            for (int64_t kj = 0; kj < k->kw; kj++) {
                                int64_t ih = i * k->sh - k->ph + ki * k->dh;
                                int64_t iw = j * k->sw - k->pw + kj * k->dw;
                                if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
                                    continue;
                                int64_t xi = ((n * k->c + c) * k->h + ih) * k->w + iw;
                                int64_t wi = ((o * cg + cl) * k->kh + ki) * k->kw + kj;
                                acc += (double)x[xi] * w[wi];
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                                if (mag) {
                                    ya += fabs((double)x[xi] * w[wi]);
                                    mag->dx[xi] += fabs(g * w[wi]);
                                    mag->dw[wi] += fabs(g * x[xi]);
                                }
                            }
                    }
                    y[yi] = acc;
                    if (mag)
                        mag->y[yi] = ya;
                    db[o] += g;
                }
}

/* Fills lc's x, w, b (if any) and dy uniformly from *rnd, computes the
 * reference of geometry g into r (the caller frees r->y), then runs lc
 * forward and backward. */
static inline void cr_run(tc_layer_check *lc, uint64_t *rnd, const cr_geom *g, cr_ref *r)
{
    tc_error err = {{0}};
    tcu_fill_check_uniform(lc, rnd);
    r->ny = tc_shape_count(&lc->output.shape);
    r->nx = tc_shape_count(&lc->inputs[0].shape);
    r->nw = tc_shape_count(&lc->weights[0].shape);
    r->y = malloc(sizeof(double) * (size_t)(r->ny + r->nx + r->nw + g->o));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->y);
    r->dx = r->y + r->ny;
    r->dw = r->dx + r->nx;
    r->db = r->dw + r->nw;
    cr_reference(g, lc->output.shape.dims[2], lc->output.shape.dims[3], lc->inputs[0].data,
                 lc->weights[0].data, lc->plan.n_weights > 1 ? lc->weights[1].data : NULL,
                 lc->grad_output.data, r->y, r->dx, r->dw, r->db, NULL);
    TCU_ASSERT_OK(tc_layer_check_forward(lc, &err), &err);
    TCU_ASSERT_OK(tc_layer_check_backward(lc, &err), &err);
}

#endif
