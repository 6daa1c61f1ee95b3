/* The shipped model files: each loads with the standard plugins (LeNet-5 of
 * 1998 with its out-of-tree C3 is tested by tests/sdk/test_lenet1998.sh),
 * has the expected input and class count, and takes training steps on
 * random data with a finite loss that falls, BatchNorm state changing. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Loads models/<name>.json; NULL (and a failed assertion) on error. */
static tc_graph *load_model(const char *name)
{
    char path[1024];
    tc_error err = {{0}};
    snprintf(path, sizeof path, "%s/models/%s.json", TC_TEST_SOURCE_DIR, name);
    tc_graph *g = tc_graph_load_file(tcu_registry(), path, &err);
    if (!g)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(g);
    return g;
}

/* Random images and labels; the same batch every step, so the loss of a
 * learning network falls. */
static void fill_batch(tc_graph *g, int batch, int n_classes)
{
    const tc_input_info *in = tc_graph_input(g, tc_graph_image_input(g));
    int64_t per = 1;
    for (int d = 0; d < in->shape.ndim; d++)
        per *= in->shape.dims[d];
    float *x = tc_graph_input_data(g, tc_graph_image_input(g));
    float *y = tc_graph_input_data(g, tc_graph_label_input(g));
    uint64_t s = 12345;
    for (int64_t i = 0; i < per * batch; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
    }
    for (int i = 0; i < batch; i++)
        y[i] = (float)(i % n_classes);
}

/* Trains steps steps with Adam; returns the first and last loss. */
static void train_steps(tc_graph *g, int batch, int steps, float *first, float *last)
{
    tc_error err = {{0}};
    tc_optim_config cfg = {.kind = TC_OPTIM_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    tc_optimizer *opt = tc_optimizer_new(g, &cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    TCU_ASSERT_OK(tc_graph_prepare(g, batch, 1, &err), &err);
    fill_batch(g, batch, tc_graph_n_classes(g));
    for (int s = 0; s < steps; s++) {
        TCU_ASSERT_OK(tc_graph_forward(g, 1, (uint64_t)s, &err), &err);
        TCU_ASSERT_OK(tc_graph_backward(g, &err), &err);
        float loss = tc_graph_loss(g);
        CU_ASSERT(isfinite(loss));
        if (s == 0)
            *first = loss;
        *last = loss;
        tc_optimizer_step(opt, 0.002f);
    }
    tc_optimizer_free(opt);
}

static void check_model(const char *name, int channels, int size, int min_states)
{
    tc_graph *g = load_model(name);
    if (!g)
        return;
    const tc_input_info *in = tc_graph_input(g, tc_graph_image_input(g));
    CU_ASSERT_EQUAL(in->shape.ndim, 3);
    CU_ASSERT_EQUAL(in->shape.dims[0], channels);
    CU_ASSERT_EQUAL(in->shape.dims[1], size);
    CU_ASSERT_EQUAL(in->shape.dims[2], size);
    CU_ASSERT_EQUAL(tc_graph_n_classes(g), 10);
    CU_ASSERT(tc_graph_n_states(g) >= min_states);
    tc_graph_init_weights(g, 1);
    float v0 = tc_graph_n_states(g) ? tc_graph_state(g, 0)->value.data[0] : 0.0f;
    float first = NAN, last = NAN;
    train_steps(g, 8, 12, &first, &last);
    CU_ASSERT(last < first);
    if (tc_graph_n_states(g))
        CU_ASSERT_NOT_EQUAL(tc_graph_state(g, 0)->value.data[0], v0); /* running mean moved */
    tc_graph_free(g);
}

static void test_resnet_mnist(void) { check_model("resnet_mnist", 1, 28, 8); }
static void test_vgg_cifar(void) { check_model("vgg_cifar", 3, 32, 0); }
static void test_resnet8_cifar(void) { check_model("resnet8_cifar", 3, 32, 8); }
static void test_lenet5(void) { check_model("lenet5", 1, 28, 0); }

int main(void)
{
    static const tcu_test tests[] = {
        {"models/resnet_mnist.json loads and learns", test_resnet_mnist},
        {"models/vgg_cifar.json loads and learns", test_vgg_cifar},
        {"models/resnet8_cifar.json loads and learns", test_resnet8_cifar},
        {"models/lenet5.json loads and learns", test_lenet5},
        {NULL, NULL},
    };
    return tcu_run("shipped models", tests);
}
