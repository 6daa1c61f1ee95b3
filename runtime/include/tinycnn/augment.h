/* tinycnn/augment.h - data augmentation applied to training batches.
 *
 * Random translation is the augmentation that lifts LeNet-5 on MNIST from
 * about 99.0% to 99.2%+ within the same epochs: the network stops
 * memorising where in the frame each digit sits. Random crops with padding
 * and horizontal flips are CIFAR-10's standard recipe (torchvision's
 * RandomCrop(32, padding=4) and RandomHorizontalFlip()). Every draw comes
 * from (seed, step, image index in the batch), each kind of draw from its
 * own stream, so a resumed run sees the same transforms as one that was
 * never interrupted, whatever the thread count or the order the images of
 * a batch are filled in. */
#ifndef TINYCNN_AUGMENT_H
#define TINYCNN_AUGMENT_H

#include <stdint.h>

#include "tinycnn/dataset.h"

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

/* Largest crop padding accepted (pixels). */
#define TC_AUGMENT_MAX_PAD 64

/* Random crop with padding `pad`: the image is padded with `pad` black
 * pixels on every side and a height x width window is cut out at a random
 * offset (top, left) uniform in [0, 2 pad]. That is a translation by
 * (dy, dx) = (pad - top, pad - left), out[y][x] = in[y - dy][x - dx] with
 * black outside; this gives image i of step `step` its (dy, dx), each in
 * [-pad, pad]. */
void tc_augment_crop_of(uint64_t seed, uint64_t step, int i, int pad, int *dy, int *dx);

/* 1 when image i of step `step` is mirrored left to right (probability 1/2). */
int tc_augment_flip_of(uint64_t seed, uint64_t step, int i);

/* In place, on normalised float images as tc_augment_shift: the random
 * crop (fill[c] where the window leaves the image; fill has `channels`
 * values, the normalised black of each channel) and the flip. pad 0 leaves
 * the images untouched; the caller keeps it in [0, TC_AUGMENT_MAX_PAD]. */
void tc_augment_crop(float *images, int n, int channels, int height, int width, int pad,
                     const float *fill, uint64_t seed, uint64_t step);
void tc_augment_flip(float *images, int n, int channels, int height, int width, uint64_t seed,
                     uint64_t step);

/* The augmentation of a training run; zeroed: none. */
typedef struct tc_augment_spec {
    uint64_t seed;
    int shift;    /* largest shift, 0: off (as tc_augment_shift) */
    int crop_pad; /* random crop padding, 0: off */
    int flip;     /* 1: random horizontal flips */
} tc_augment_spec;

/* Fills the batch positions first .. first+count-1 of a batch whose
 * images are ds's images indices[0..] (indices, images and labels are the
 * whole batch's arrays), normalised per channel as
 * tc_dataset_fill_batch_channels and transformed in the same pass: shift,
 * then crop, then flip (the torchvision order: RandomCrop before
 * RandomHorizontalFlip), each drawn for its batch position and `step`, and
 * black (normalised) wherever a transform brings in pixels from outside.
 * The result equals tc_dataset_fill_batch_channels followed by
 * tc_augment_shift, tc_augment_crop and tc_augment_flip on the whole batch
 * (their fill the normalised black; tc_augment_shift has one fill for all
 * channels, so with channels that normalise black differently the equality
 * holds channel by channel), so worker threads can each fill a part of
 * one batch and get what one thread would. aug NULL: no
 * transform. Allocates nothing and checks nothing (the training hot path):
 * shift and crop_pad in [0, 64], indices in range, std non-zero. */
void tc_augment_fill(const tc_dataset *ds, const int64_t *indices, int first, int count,
                     const float *mean, const float *std, const tc_augment_spec *aug,
                     uint64_t step, float *images, float *labels);

#ifdef __cplusplus
}
#endif

#endif
