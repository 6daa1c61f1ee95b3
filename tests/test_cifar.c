/* CIFAR-10's binary format (tc_cifar10_load, and tc_dataset_load finding it):
 * small batches in that format are written here, record by record, with
 * known labels and pixels; then broken ones. */
#define _POSIX_C_SOURCE 200809L
#include "image_util.h"

#include <unistd.h>

enum { REC = 3073, PIX = 3072 };

static const char *names10[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                  "dog",      "frog",       "horse", "ship", "truck"};

/* Record r of a batch: label (r * 7 + batch) % 10, pixels from a seed. */
static void record(int batch, int r, uint8_t *rec)
{
    rec[0] = (uint8_t)((r * 7 + batch) % 10);
    iu_noise(rec + 1, PIX, (uint32_t)(batch * 1000 + r + 1));
}

static void write_batch(const char *path, int batch, int records)
{
    uint8_t *b = malloc((size_t)records * REC + 1);
    for (int r = 0; r < records; r++)
        record(batch, r, b + (size_t)r * REC);
    iu_write(path, b, (size_t)records * REC);
    free(b);
}

/* The official names file ends with blank lines; a CRLF and blanks too. */
static const char meta[] = "airplane\nautomobile\r\nbird\ncat  \ndeer\ndog\nfrog\nhorse\n"
                           "ship\ntruck\n\n \n";

static const int train_counts[5] = {3, 1, 2, 2, 4};

/* dir with data_batch_1..5 (train_counts records), test_batch (5). */
static void make_cifar(const char *dir)
{
    iu_mkdir(dir);
    char p[600];
    for (int b = 0; b < 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, b + 1);
        write_batch(p, b + 1, train_counts[b]);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    write_batch(p, 0, 5);
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    iu_write(p, meta, sizeof meta - 1);
}

static void expect_train(const tc_dataset *ds)
{
    CU_ASSERT_EQUAL_FATAL(ds->count, 12);
    CU_ASSERT(ds->channels == 3 && ds->height == 32 && ds->width == 32);
    CU_ASSERT_EQUAL_FATAL(ds->n_classes, 10);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_STRING_EQUAL(ds->class_names[i], names10[i]);
    int64_t i = 0;
    uint8_t rec[REC];
    for (int b = 0; b < 5; b++)
        for (int r = 0; r < train_counts[b]; r++, i++) {
            record(b + 1, r, rec);
            CU_ASSERT_EQUAL(ds->labels[i], rec[0]);
            CU_ASSERT_EQUAL(memcmp(ds->pixels + i * PIX, rec + 1, PIX), 0);
        }
}

static void test_load(void)
{
    const char *dir = iu_path("cifar");
    make_cifar(dir);
    tc_error err;
    tc_dataset ds;
    TCU_ASSERT_OK(tc_cifar10_load(dir, "train", &ds, &err), &err);
    expect_train(&ds);
    tc_dataset_free(&ds);
    TCU_ASSERT_OK(tc_cifar10_load(dir, "test", &ds, &err), &err);
    CU_ASSERT_EQUAL_FATAL(ds.count, 5);
    uint8_t rec[REC];
    record(0, 4, rec);
    CU_ASSERT_EQUAL(ds.labels[4], rec[0]);
    CU_ASSERT_EQUAL(memcmp(ds.pixels + 4 * PIX, rec + 1, PIX), 0);
    tc_dataset_free(&ds);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(dir, "val", &ds, &err), &err,
                          "unknown CIFAR-10 split 'val'");

    /* found by tc_dataset_load, here and where the archive unpacks */
    TCU_ASSERT_OK(tc_dataset_load(dir, "train", 3, 32, 32, &ds, &err), &err);
    expect_train(&ds);
    tc_dataset_free(&ds);
    iu_mkdir(iu_path("unpacked"));
    make_cifar(iu_path("unpacked/cifar-10-batches-bin"));
    TCU_ASSERT_OK(tc_dataset_load(iu_path("unpacked"), "train", 3, 32, 32, &ds, &err), &err);
    expect_train(&ds);
    tc_dataset_free(&ds);

    /* the model's input shape: gray is refused, a smaller size needs resizing */
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(dir, "train", 1, 32, 32, &ds, &err), &err,
                          "images are 3x32x32 (channels x height x width) but 1x32x32");
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(dir, "test", 3, 24, 24, &ds, &err), &err,
                          "but 3x24x24 was asked for");
    tc_data_options opt = {.channels = 3, .height = 24, .width = 24, .resize = TC_RESIZE_STRETCH};
    TCU_ASSERT_OK(tc_dataset_load_with(dir, "test", &opt, &ds, &err), &err);
    uint8_t want[3 * 24 * 24];
    TCU_ASSERT_OK(tc_image_resize(rec + 1, 3, 32, 32, want, 24, 24, &err), &err);
    CU_ASSERT_EQUAL(memcmp(ds.pixels + 4 * sizeof want, want, sizeof want), 0);
    CU_ASSERT_EQUAL(ds.n_classes, 10);
    tc_dataset_free(&ds);

    /* a fixed class list must be CIFAR-10's own */
    opt = (tc_data_options){.channels = 3, .height = 32, .width = 32, .class_names = names10,
                            .n_class_names = 10};
    TCU_ASSERT_OK(tc_dataset_load_with(dir, "test", &opt, &ds, &err), &err);
    tc_dataset_free(&ds);
    const char *other[10];
    memcpy(other, names10, sizeof other);
    other[3] = "kitten";
    opt.class_names = other;
    tcu_assert_load_fails(dir, "test", &opt,
                          "CIFAR-10 class 3 is 'cat' but the class list says 'kitten'");
    opt.n_class_names = 9;
    tcu_assert_load_fails(dir, "test", &opt, "CIFAR-10 has 10 classes but the class list has 9");
}

/* A fresh copy of the good set under name, for one damage each. */
static const char *copy_set(const char *name)
{
    const char *dir = iu_path("%s", name);
    make_cifar(dir);
    return dir;
}

static void test_broken(void)
{
    tc_error err;
    tc_dataset ds;
    char p[600];

    const char *d = copy_set("missing3");
    snprintf(p, sizeof p, "%s/data_batch_3.bin", d);
    unlink(p);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "train", &ds, &err), &err,
                          "missing3/data_batch_3.bin: cannot open");
    CU_ASSERT_PTR_NULL(ds.pixels);

    d = copy_set("short");
    snprintf(p, sizeof p, "%s/data_batch_2.bin", d);
    uint8_t rec[2 * (REC + 1)];
    record(2, 0, rec);
    iu_write(p, rec, REC - 1);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "train", &ds, &err), &err,
                          "short/data_batch_2.bin: 3072 bytes is not a whole number of 3073-byte "
                          "records");
    iu_write(p, rec, 2 * 3074); /* CIFAR-100's record size */
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "train", &ds, &err), &err,
                          "CIFAR-100's 3074-byte records are not supported");
    iu_write(p, rec, 0);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "train", &ds, &err), &err,
                          "data_batch_2.bin: empty file");

    d = copy_set("label");
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    record(0, 0, rec);
    record(0, 1, rec + REC);
    rec[REC] = 10;
    iu_write(p, rec, 2 * REC);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "label/test_batch.bin: record 1 (byte 3073) has label 10; CIFAR-10 "
                          "labels are 0..9");

    d = copy_set("names");
    snprintf(p, sizeof p, "%s/batches.meta.txt", d);
    iu_write(p, "a\nb\nc\nd\ne\nf\ng\nh\ni\n", 18);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "batches.meta.txt: 9 class names, CIFAR-10 has 10");
    iu_write(p, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n", 22);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "more than 10 class names");
    iu_write(p, "a\0b", 3);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err, "holds a NUL byte");
    unlink(p);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "CIFAR-10 class names: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "batches.meta.txt: cannot open"));

    /* a FIFO for a batch: refused by its type, never opened */
    d = copy_set("fifo");
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    unlink(p);
    CU_ASSERT_EQUAL_FATAL(mkfifo(p, 0644), 0);
    alarm(20);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "test_batch.bin: is a FIFO, not a CIFAR-10 batch file");
    alarm(0);
    unlink(p);
    iu_mkdir(p);
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(d, "test", &ds, &err), &err,
                          "test_batch.bin: is a folder");

    /* nothing there: the message says where it looked */
    iu_mkdir(iu_path("nothing"));
    TCU_ASSERT_FAILS_WITH(tc_cifar10_load(iu_path("nothing"), "train", &ds, &err), &err,
                          "no CIFAR-10 train batches: looked for");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cifar-10-batches-bin/data_batch_1.bin"));
    TCU_ASSERT_FAILS_WITH(tc_dataset_load(iu_path("nothing"), "test", 3, 32, 32, &ds, &err), &err,
                          "CIFAR-10");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "test_batch.bin"));
}

int main(void)
{
    static const tcu_test tests[] = {
        {"CIFAR-10 batches, names, found by tc_dataset_load", test_load},
        {"broken CIFAR-10 files", test_broken},
        {NULL, NULL},
    };
    return tcu_run("cifar", tests);
}
