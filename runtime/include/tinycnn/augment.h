/* tinycnn/augment.h - data augmentation applied to training batches.
 *
 * Random translation is the augmentation that lifts LeNet-5 on MNIST from
 * about 99.0% to 99.2%+ within the same epochs: the network stops
 * memorising where in the frame each digit sits. Draws come from
 * (seed, "augment", step), so a resumed run sees the same shifts as one
 * that was never interrupted, whatever the thread count. */
#ifndef TINYCNN_AUGMENT_H
#define TINYCNN_AUGMENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest shift accepted (pixels). */
#define TC_AUGMENT_MAX_SHIFT 64

/* The shift image i of the batch of global step `step` gets: dy and dx
 * uniform in [-max_shift, max_shift]. Exposed so tests can check each image
 * against an independent computation. */
void tc_augment_shift_of(uint64_t seed, uint64_t step, int i, int max_shift, int *dy, int *dx);

/* Translates each of the n images (channels x height x width floats, stored
 * one after another) in place by its (dy, dx) from tc_augment_shift_of:
 * out[y][x] = in[y - dy][x - dx], and `fill` where that falls outside the
 * image. max_shift 0 leaves the images untouched; the caller keeps it in
 * [0, TC_AUGMENT_MAX_SHIFT]. Allocates nothing. */
void tc_augment_shift(float *images, int n, int channels, int height, int width, int max_shift,
                      float fill, uint64_t seed, uint64_t step);

#ifdef __cplusplus
}
#endif

#endif
