/*
 * add.c - the Add layer plugin: the elementwise sum of 2 to 16 inputs of
 * identical shape (residual connections). Inputs are summed in input order,
 * so the result does not depend on the thread count.
 */
#include "layer_util.h"

#define ADD_MAX_INPUTS 16

/* No hyperparameters: no create/destroy, self is always NULL. */
static int add_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                    int n_threads, tc_plan *plan, tc_error *err)
{
    (void)self;
    (void)n_threads;
    if (lu_check_inputs(host, "Add", in, n_inputs, 2, ADD_MAX_INPUTS, err))
        return 1;
    for (int i = 1; i < n_inputs; i++) {
        int same = in[i].ndim == in[0].ndim;
        for (int d = 0; same && d < in[0].ndim; d++)
            same = in[i].dims[d] == in[0].dims[d];
        if (!same) {
            char a[LU_SHAPE_BUF], b[LU_SHAPE_BUF];
            host->set_error(err, "Add needs inputs of identical shape: input 0 is %s, "
                                 "input %d is %s", lu_shape_str(&in[0], a, sizeof a), i,
                            lu_shape_str(&in[i], b, sizeof b));
            return 1;
        }
    }
    return lu_plan_simple(plan, in[0], 0);
}

typedef struct job {
    int n;
    const tc_tensor *in;
    float *out;
} job;

/* AVX2 clone: 32-byte adds for the same sums in the same order */
LU_AVX2_CLONES
static void sum_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const job *j = arg;
    (void)worker;
    const float *a = j->in[0].data, *b = j->in[1].data;
    for (int64_t i = begin; i < end; i++)
        j->out[i] = a[i] + b[i];
    for (int k = 2; k < j->n; k++) {
        const float *c = j->in[k].data;
        for (int64_t i = begin; i < end; i++)
            j->out[i] += c[i];
    }
}

static int add_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    if (x->n_inputs < 2 || x->n_inputs > ADD_MAX_INPUTS) {
        host->set_error(err, "Add takes 2 to %d inputs, got %d", ADD_MAX_INPUTS, x->n_inputs);
        return 1;
    }
    job j = {.n = x->n_inputs, .in = x->inputs, .out = x->output->data};
    lu_for(host, tc_shape_count(&x->inputs[0].shape), sum_chunk, &j);
    return 0;
}

/* Each wanted input gradient gets elements [begin, end) of the output
 * gradient (split over the threads like forward's sum: a residual block's
 * two copies are as large as it). */
static void copy_chunk(void *arg, int64_t begin, int64_t end, int worker)
{
    const tc_exec *x = *(const tc_exec *const *)arg;
    (void)worker;
    for (int i = 0; i < x->n_inputs; i++)
        if (lu_grad_in(x, i))
            lu_copy(x->grad_inputs[i].data + begin, x->grad_output->data + begin, end - begin);
}

static int add_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    (void)self;
    (void)err;
    lu_for(host, tc_shape_count(&x->inputs[0].shape), copy_chunk, &x);
    return 0;
}

/* n - 1 additions per element. */
static int64_t add_flops(const tc_host *host, void *self, const tc_shape *in, int n_inputs)
{
    (void)host;
    (void)self;
    return (int64_t)(n_inputs - 1) * tc_shape_count(&in[0]);
}

static const tc_layer_type add_type = {
    LU_TYPE_HEAD("Add", "elementwise sum of 2 to 16 inputs of identical shape", 2, ADD_MAX_INPUTS),
    LU_TYPE_CALLBACKS(add),
};

LU_PLUGIN(add, "Add", add_type)
