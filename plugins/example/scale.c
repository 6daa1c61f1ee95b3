/*
 * scale.c - Scale: a learnable per-channel affine map,
 *     y[n, c, ...] = weight[c] * x[n, c, ...] + bias[c],
 * on inputs [batch, channels, ...] (images [N,C,H,W] or features [N,F]).
 *
 * The example of a layer with learnable parameters. plan() declares the
 * weights (name, shape without the batch dimension, initialisation); the
 * graph allocates and initialises them, saves them in checkpoints as
 * "<node>.weight" and "<node>.bias", and hands them to forward and backward
 * in declaration order. Backward OVERWRITES every weight gradient.
 */

#include "example.h"

typedef struct scale {
    int bias;
} scale;

static const tc_param_desc scale_params[] = {
    {"bias", TC_VALUE_BOOL, 0, 1, 0, 1, "learn a per-channel shift too"},
};

static int scale_create(const tc_host *host, const double *values, void **self, tc_error *err)
{
    scale *l = tc_instance_new(host, "Scale", sizeof *l, self, err);
    if (!l)
        return 1;
    l->bias = values[0] != 0.0;
    return 0;
}

/* Channels and elements per channel and sample of an input [N, C, ...]. */
static void geometry(const tc_shape *s, int64_t *batch, int64_t *channels, int64_t *inner)
{
    *batch = s->dims[0];
    *channels = s->dims[1];
    *inner = 1;
    for (int d = 2; d < s->ndim; d++)
        *inner *= s->dims[d];
}

static int scale_plan(const tc_host *host, void *self, const tc_shape *in, int n_inputs,
                      int n_threads, tc_plan *plan, tc_error *err)
{
    scale *l = self;
    (void)n_inputs;
    (void)n_threads;
    if (in[0].ndim < 2) {
        host->set_error(err, "Scale needs an input [batch, channels, ...], got %d "
                             "dimension%s", in[0].ndim, in[0].ndim == 1 ? "" : "s");
        return 1;
    }
    plan->output = in[0];
    plan->n_weights = l->bias ? 2 : 1;
    plan->weights[0] = (tc_weight_decl){
        .name = "weight",
        .shape = {.ndim = 1, .dims = {in[0].dims[1]}}, /* no batch dimension */
        .init = TC_INIT_CONSTANT, .a = 1.0,             /* starts as the identity */
        .fan_in = 1, .fan_out = 1,
        .no_decay = 1,
    };
    if (l->bias)
        plan->weights[1] = (tc_weight_decl){
            .name = "bias",
            .shape = {.ndim = 1, .dims = {in[0].dims[1]}},
            .init = TC_INIT_ZEROS,
            .fan_in = 1, .fan_out = 1,
            .no_decay = 1,
        };
    return 0;
}

static int scale_forward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const scale *l = self;
    int64_t n, c, m;
    (void)host;
    (void)err;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data, *w = x->weights[0].data;
    const float *b = l->bias ? x->weights[1].data : NULL;
    float *out = x->output->data;
    for (int64_t s = 0; s < n; s++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *xi = in + (s * c + ch) * m;
            float *yi = out + (s * c + ch) * m, wc = w[ch], bc = b ? b[ch] : 0.0f;
            for (int64_t i = 0; i < m; i++)
                yi[i] = wc * xi[i] + bc;
        }
    return 0;
}

/* dx = weight[c] * dy; dweight[c] = sum over n, i of dy * x; dbias[c] = sum
 * of dy. Sums run in double, in a fixed order, so results do not depend on
 * anything but the inputs. */
static int scale_backward(const tc_host *host, void *self, const tc_exec *x, tc_error *err)
{
    const scale *l = self;
    int64_t n, c, m;
    (void)host;
    (void)err;
    geometry(&x->inputs[0].shape, &n, &c, &m);
    const float *in = x->inputs[0].data, *dy = x->grad_output->data, *w = x->weights[0].data;
    float *dx = x->grad_inputs[0].data; /* NULL when nothing upstream needs it */
    float *dw = x->grad_weights[0].data, *db = l->bias ? x->grad_weights[1].data : NULL;
    for (int64_t ch = 0; ch < c; ch++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t s = 0; s < n; s++) {
            const float *xi = in + (s * c + ch) * m, *gi = dy + (s * c + ch) * m;
            for (int64_t i = 0; i < m; i++) {
                sw += (double)gi[i] * xi[i];
                sb += gi[i];
            }
            if (dx) {
                float *di = dx + (s * c + ch) * m;
                for (int64_t i = 0; i < m; i++)
                    di[i] = w[ch] * gi[i];
            }
        }
        dw[ch] = (float)sw;
        if (db)
            db[ch] = (float)sb;
    }
    return 0;
}

/* `tinycnn export` (ABI 2.2): Mul by the weight, then Add the bias. ONNX
 * broadcasts numpy's way, aligning the trailing dimensions, so a [C] weight
 * against [N,C,H,W] would meet W: it goes in as [C,1,1] (one 1 per
 * dimension after the channels; [C] as it is for [N,C]). */
static int scale_onnx_export(const tc_host *host, void *self, const tc_onnx_writer *w,
                             tc_error *err)
{
    const scale *l = self;
    const tc_shape *in = &w->input_shapes[0];
    tc_shape per_channel = {.ndim = in->ndim - 1, .dims = {in->dims[1]}};
    (void)host;
    (void)err;
    for (int d = 1; d < per_channel.ndim; d++)
        per_channel.dims[d] = 1;
    const char *weight = w->weight(w->ctx, 0, &per_channel);
    const char *mul_out = l->bias ? w->temp(w->ctx, "scaled") : w->output;
    const char *mul_in[2] = {w->inputs[0], weight};
    if (!weight || !mul_out || w->node(w->ctx, "Mul", mul_in, 2, mul_out) < 0)
        return 1;
    if (!l->bias)
        return 0;
    const char *add_in[2] = {mul_out, w->weight(w->ctx, 1, &per_channel)};
    return !add_in[1] || w->node(w->ctx, "Add", add_in, 2, w->output) < 0;
}

const tc_layer_type example_scale_type = {
    TC_LAYER_HEAD("Scale", "learnable per-channel scale (and shift) of [batch, channels, ...]", 1,
                  1),
    TC_PARAM_TABLE(scale_params),
    .create = scale_create, .destroy = tc_instance_free,
    .plan = scale_plan, .forward = scale_forward, .backward = scale_backward,
    .onnx_export = scale_onnx_export,
};
