/*
 * concat.c - the Concat layer plugin: joins 2 to 64 inputs along one axis
 * (channels by default), like torch.cat. The inputs must agree in every
 * other dimension; the batch axis 0 cannot be joined, since every node of a
 * graph runs on the same batch.
 *
 * Seen as [outer, axis * inner] matrices (outer = the dimensions before the
 * axis, inner = those after it), the output's rows are the inputs' rows laid
 * side by side, so forward and backward are row copies.
 */
#include <stdlib.h>
#include <string.h>

#include "layer_util.h"

#define CONCAT_MAX_INPUTS 64

typedef struct concat {
    int axis;
} concat;

static const tc_param_desc concat_params[] = {
    {"axis", TC_VALUE_INT, 0, 1, 1, TC_MAX_DIMS - 1,
     "dimension to join along (1 = channels; 0, the batch, is not allowed)"},
};

static int concat_create(const tc_host *host, const double *v, void **self, tc_error *err)
{
    int axis = (int)v[0];
    if (axis < 1 || axis >= TC_MAX_DIMS) {
        host->set_error(err, "Concat: axis must be in [1, %d] (0, the batch, cannot be "
                             "joined), got %g", TC_MAX_DIMS - 1, v[0]);
        return 1;
    }
    concat *l = lu_new(host, "Concat", sizeof *l, self, err);
    if (l)
        l->axis = axis;
    return !l;
}

/* 1 when a and b agree in every dimension but `axis`. */
static int same_outside(const tc_shape *a, const tc_shape *b, int axis)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (d != axis && a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

static int concat_shapes(const concat *l, const tc_host *host, const tc_shape *in, int n_inputs,
                         tc_shape *out, tc_error *err)
{
    char a[LU_SHAPE_BUF], b[LU_SHAPE_BUF];
    if (lu_check_inputs(host, "Concat", in, n_inputs, 2, CONCAT_MAX_INPUTS, err))
        return 1;
    if (in[0].ndim <= l->axis) {
        host->set_error(err, "Concat: axis %d does not exist in input 0 of shape %s "
                             "(%d dimensions)", l->axis, lu_shape_str(&in[0], a, sizeof a),
                        in[0].ndim);
        return 1;
    }
    *out = in[0];
    for (int i = 1; i < n_inputs; i++) {
        if (!same_outside(&in[i], &in[0], l->axis)) {
            host->set_error(err, "Concat: input %d has shape %s, which differs from input 0's "
                                 "%s outside axis %d", i, lu_shape_str(&in[i], a, sizeof a),
                            lu_shape_str(&in[0], b, sizeof b), l->axis);
            return 1;
        }
        if (__builtin_add_overflow(out->dims[l->axis], in[i].dims[l->axis],
                                   &out->dims[l->axis])) {
            host->set_error(err, "Concat: the joined axis %d overflows", l->axis);
            return 1;
        }
    }
    int64_t n;
    if (lu_count(out, &n)) {
        host->set_error(err, "Concat: the output %s is too large",
                        lu_shape_str(out, a, sizeof a));
        return 1;
    }
    return 0;
}

static int concat_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                       int n_threads, tc_plan *plan, tc_error *err)
{
    (void)n_threads;
    if (concat_shapes(self, host, in, n_inputs, &plan->output, err))
        return 1;
    return lu_plan_simple(plan, plan->output, 0);
}

/* Rows [begin, end) of the [outer, ...] views: out row = the inputs' rows
 * side by side. Forward copies the inputs' rows into the output's, backward
 * the output gradient's slices back into the input gradients. */
typedef struct job {
    int n;
    int backward;
    int64_t out_row;                    /* elements of an output row */
    int64_t row[CONCAT_MAX_INPUTS];     /* elements of each input's row */
    float *part[CONCAT_MAX_INPUTS];     /* input data or input gradient (may be NULL) */
    float *whole;                       /* output or output gradient */
} job;

static void copy_rows(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    for (int64_t r = begin; r < end; r++) {
        float *w = j->whole + r * j->out_row;
        for (int i = 0; i < j->n; w += j->row[i], i++) {
            float *p = j->part[i];
            size_t bytes = sizeof(float) * (size_t)j->row[i];
            if (!p)
                continue;
            if (j->backward)
                memcpy(p + r * j->row[i], w, bytes);
            else
                memcpy(w, p + r * j->row[i], bytes);
        }
    }
}

static int make_job(const concat *l, const tc_host *host, const tc_exec *x, int backward,
                    job *j, int64_t *outer, tc_error *err)
{
    tc_shape out;
    tc_shape in[CONCAT_MAX_INPUTS];
    if (x->n_inputs < 2 || x->n_inputs > CONCAT_MAX_INPUTS) {
        host->set_error(err, "Concat takes 2 to %d inputs, got %d", CONCAT_MAX_INPUTS,
                        x->n_inputs);
        return 1;
    }
    for (int i = 0; i < x->n_inputs; i++)
        in[i] = x->inputs[i].shape;
    if (concat_shapes(l, host, in, x->n_inputs, &out, err))
        return 1;
    memset(j, 0, sizeof *j);
    j->n = x->n_inputs;
    j->backward = backward;
    *outer = 1;
    for (int d = 0; d < l->axis; d++)
        *outer *= out.dims[d];
    j->out_row = tc_shape_count(&out) / *outer;
    for (int i = 0; i < j->n; i++) {
        j->row[i] = tc_shape_count(&in[i]) / *outer;
        j->part[i] = backward ? (x->grad_inputs ? x->grad_inputs[i].data : NULL)
                              : x->inputs[i].data;
    }
    j->whole = backward ? x->grad_output->data : x->output->data;
    return 0;
}

/* Forward and backward are the same row copies, the other way round. */
static int concat_run(const tc_host *host, void *self, const tc_exec *x, int backward,
                      tc_error *err)
{
    job j;
    int64_t outer;
    if (make_job(self, host, x, backward, &j, &outer, err))
        return 1;
    lu_for_work(host, outer, outer * j.out_row, LU_PARALLEL_MIN_CHEAP, copy_rows, &j);
    return 0;
}

static int concat_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    return concat_run(host, self, x, 0, err);
}

static int concat_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    return concat_run(host, self, x, 1, err);
}

LU_FLOPS_PER_INPUT(concat, 0) /* copies only */

static const tc_layer_type concat_type = {
    LU_TYPE_HEAD("Concat",
                 "joins 2 to 64 inputs along one non-batch axis (channels by default)",
                 2, CONCAT_MAX_INPUTS),
    LU_TYPE_CONFIG(concat),
    LU_TYPE_CALLBACKS(concat),
};

LU_PLUGIN(concat, "Concat", concat_type)
