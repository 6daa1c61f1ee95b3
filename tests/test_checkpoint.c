/* The checkpoint file: byte layout, round trips, and a reader that refuses
 * every truncated, corrupted or hostile file without crashing or leaking. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

/* ---- a hand-rolled file builder, independent of the writer ------------- */

typedef struct bytes {
    uint8_t b[8192];
    size_t n;
} bytes;

static void b_put(bytes *b, const void *p, size_t n)
{
    CU_ASSERT_FATAL(b->n + n <= sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void b_u32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    b_put(b, x, 4);
}

static void b_u64(bytes *b, uint64_t v)
{
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}

static void b_header(bytes *b, uint32_t version, uint32_t sections)
{
    b->n = 0;
    b_put(b, "TCNNCKPT", 8);
    b_u32(b, version);
    b_u32(b, sections);
}

static void b_section(bytes *b, uint32_t kind, const void *p, size_t n)
{
    b_u32(b, kind);
    b_u64(b, n);
    b_put(b, p, n);
}

static void b_text(bytes *b, uint32_t kind, const char *s)
{
    b_section(b, kind, s, strlen(s));
}

/* One tensor record (of a tensors section being built in t). */
static void b_tensor(bytes *t, const char *name, uint32_t ndim, const int64_t *dims,
                     const float *data)
{
    b_u32(t, (uint32_t)strlen(name));
    b_put(t, name, strlen(name));
    b_u32(t, ndim);
    int64_t n = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        b_u64(t, (uint64_t)dims[i]);
        n *= dims[i];
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &data[i], 4);
        b_u32(t, bits);
    }
}

static void b_crc(bytes *b)
{
    b_u32(b, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b->b, (uInt)b->n));
}

/* Rewrites the trailing CRC after a deliberate edit. */
static void fix_crc(uint8_t *p, size_t n)
{
    uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)(n - 4));
    for (int i = 0; i < 4; i++)
        p[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void set_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static tc_shape shape_of(int ndim, const int64_t *dims)
{
    tc_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s.dims[i] = dims[i];
    return s;
}

static int is_empty(const tc_checkpoint *ck)
{
    return !ck->model_json && !ck->meta_json && ck->n_tensors == 0 && !ck->tensors;
}

/* Parses bytes that must be refused with `needle` in the message; the output
 * must come back empty and the message must name the origin. */
static void expect_refused(const uint8_t *p, size_t n, const char *needle)
{
    tc_error err;
    tc_checkpoint ck;
    memset(&ck, 0xAB, sizeof ck); /* garbage in: must come out zeroed */
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_parse(p, n, "crafted.ckpt", &ck, &err), &err, needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "crafted.ckpt: "));
    CU_ASSERT(is_empty(&ck));
}

/* ---- the fixtures ------------------------------------------------------ */

static const char *small_model = "{\"name\":\"t\",\"nodes\":[]}";
static const char *small_meta = "{\"epoch\":3}";

/* conv1.weight [2,3,5,5] = 150 floats (600 bytes), then fc.bias [3]. */
static void make_small(tc_checkpoint *ck)
{
    tc_error err;
    memset(ck, 0, sizeof *ck);
    ck->model_json = strdup(small_model);
    ck->meta_json = strdup(small_meta);
    float w[150], b[3] = {0.5f, -0.25f, 8.0f};
    for (int i = 0; i < 150; i++)
        w[i] = (float)i * 0.125f - 3.0f;
    int64_t wd[4] = {2, 3, 5, 5}, bd[1] = {3};
    tc_shape ws = shape_of(4, wd), bs = shape_of(1, bd);
    TCU_ASSERT_OK(tc_checkpoint_add(ck, "conv1.weight", &ws, w, &err), &err);
    TCU_ASSERT_OK(tc_checkpoint_add(ck, "fc.bias", &bs, b, &err), &err);
}

/* make_small encoded: *p (malloc'd, the caller frees it) of *n bytes. */
static void encode_small(uint8_t **p, size_t *n)
{
    tc_error err;
    tc_checkpoint ck;
    make_small(&ck);
    TCU_ASSERT_OK(tc_checkpoint_encode(&ck, p, n, &err), &err);
    tc_checkpoint_free(&ck);
}

/* A file of empty model and metadata texts and the tensor section t, which
 * must be refused with `needle`. */
static void expect_tensors_refused(const bytes *t, const char *needle)
{
    bytes b;
    b_header(&b, 1, 3);
    b_text(&b, 1, "{}");
    b_text(&b, 2, "{}");
    b_section(&b, 3, t->b, t->n);
    b_crc(&b);
    expect_refused(b.b, b.n, needle);
}

/* ---- tests ------------------------------------------------------------- */

/* The writer's bytes equal a file assembled by hand from the documented
 * layout, and the hand-made file reads back. */
static void test_layout_by_hand(void)
{
    tc_error err;
    tc_checkpoint ck = {0};
    ck.model_json = strdup("{}");
    ck.meta_json = strdup("{\"a\":1}");
    float d[2] = {1.0f, -2.0f};
    int64_t dims[1] = {2};
    tc_shape s = shape_of(1, dims);
    TCU_ASSERT_OK(tc_checkpoint_add(&ck, "w", &s, d, &err), &err);

    static const uint8_t expect_head[] = {
        'T', 'C', 'N', 'N', 'C', 'K', 'P', 'T', 1, 0, 0, 0, 3, 0, 0, 0,
        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, '{', '}',
        2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '1', '}',
        3, 0, 0, 0, 29, 0, 0, 0, 0, 0, 0, 0, /* 4 + 4+1 + 4 + 8 + 2*4 */
        1, 0, 0, 0,                          /* count */
        1, 0, 0, 0, 'w', 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x80, 0x3F,              /* 1.0f */
        0x00, 0x00, 0x00, 0xC0               /* -2.0f */
    };
    bytes want = {.n = 0};
    b_put(&want, expect_head, sizeof expect_head);
    b_crc(&want);
    CU_ASSERT_EQUAL(want.n, 94);

    uint8_t *got = NULL;
    size_t n = 0;
    TCU_ASSERT_OK(tc_checkpoint_encode(&ck, &got, &n, &err), &err);
    CU_ASSERT_EQUAL(n, want.n);
    CU_ASSERT(n == want.n && memcmp(got, want.b, n) == 0);

    /* The same bytes through a file. */
    const char *path = tcu_write_file("layout.ckpt", "", 0);
    TCU_ASSERT_OK(tc_checkpoint_write(path, &ck, &err), &err);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    uint8_t buf[200];
    size_t r = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CU_ASSERT(r == want.n && memcmp(buf, want.b, r) == 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);

    tc_checkpoint back;
    TCU_ASSERT_OK(tc_checkpoint_parse(want.b, want.n, "hand", &back, &err), &err);
    CU_ASSERT_STRING_EQUAL(back.model_json, "{}");
    CU_ASSERT_STRING_EQUAL(back.meta_json, "{\"a\":1}");
    CU_ASSERT_EQUAL_FATAL(back.n_tensors, 1);
    CU_ASSERT_STRING_EQUAL(back.tensors[0].name, "w");
    CU_ASSERT_EQUAL(back.tensors[0].shape.ndim, 1);
    CU_ASSERT_EQUAL(back.tensors[0].shape.dims[0], 2);
    CU_ASSERT_EQUAL(back.tensors[0].data[0], 1.0f);
    CU_ASSERT_EQUAL(back.tensors[0].data[1], -2.0f);
    tc_checkpoint_free(&back);
    CU_ASSERT(is_empty(&back));
    free(got);
    tc_checkpoint_free(&ck);
}

static int bits_equal(const float *a, const float *b, int64_t n)
{
    return n == 0 || memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* Texts and tensors of every rank survive a file round trip bit for bit,
 * including NaN payloads, -0, infinities and denormals. */
static void test_round_trip(void)
{
    tc_error err;
    tc_checkpoint ck = {0};
    const char *model = "{\"name\":\"r\",\"unicode\":\"\xc3\xa9\xe2\x82\xac\",\"s\":\"a\\nb\"}";
    const char *meta = "{\"epoch\":12,\"lr\":0.001,\"history\":[1,2,3]}";
    ck.model_json = strdup(model);
    ck.meta_json = strdup(meta);

    float specials[8];
    uint32_t nan_payload = 0x7FC12345u, neg_nan = 0xFFA00001u; /* quiet, signalling */
    memcpy(&specials[0], &nan_payload, 4);
    memcpy(&specials[1], &neg_nan, 4);
    specials[2] = -0.0f;
    specials[3] = INFINITY;
    specials[4] = -INFINITY;
    specials[5] = FLT_MIN / 8.0f; /* denormal */
    specials[6] = FLT_MAX;
    specials[7] = 1.0f / 3.0f;

    float scalar = 3.5f;
    float v5[5] = {1, 2, 3, 4, 5};
    float m23[6];
    for (int i = 0; i < 6; i++)
        m23[i] = (float)(i * i) - 7.25f;
    float t4[24];
    for (int i = 0; i < 24; i++)
        t4[i] = (float)i / 7.0f;
    int64_t d1[1] = {8}, d5[1] = {5}, d2[2] = {2, 3}, d3[3] = {2, 1, 4}, d4[4] = {2, 3, 2, 2},
            dz[3] = {3, 0, 2}, d6[6] = {1, 2, 1, 3, 1, 4};
    float t3[8];
    for (int i = 0; i < 8; i++)
        t3[i] = specials[7 - i];

    struct {
        const char *name;
        int ndim;
        const int64_t *dims;
        const float *data;
        int64_t count;
    } want[] = {
        {"scalar", 0, NULL, &scalar, 1},
        {"specials", 1, d1, specials, 8},
        {"v5", 1, d5, v5, 5},
        {"layer.m23", 2, d2, m23, 6},
        {"optim/layer.t3", 3, d3, t3, 8},
        {"conv.weight", 4, d4, t4, 24},
        {"empty", 3, dz, NULL, 0},
        {"six", 6, d6, t4, 24},
    };
    int nw = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < nw; i++) {
        tc_shape s = shape_of(want[i].ndim, want[i].dims);
        TCU_ASSERT_OK(tc_checkpoint_add(&ck, want[i].name, &s, want[i].data, &err), &err);
    }

    char path[512];
    snprintf(path, sizeof path, "%s/round.ckpt", tcu_tmpdir());
    TCU_ASSERT_OK(tc_checkpoint_write(path, &ck, &err), &err);
    tc_checkpoint_free(&ck);

    tc_checkpoint back;
    TCU_ASSERT_OK(tc_checkpoint_read(path, &back, &err), &err);
    CU_ASSERT_STRING_EQUAL(back.model_json, model);
    CU_ASSERT_STRING_EQUAL(back.meta_json, meta);
    CU_ASSERT_EQUAL_FATAL(back.n_tensors, (size_t)nw);
    for (int i = 0; i < nw; i++) {
        const tc_named_tensor *t = &back.tensors[i]; /* order is preserved */
        CU_ASSERT_STRING_EQUAL(t->name, want[i].name);
        CU_ASSERT_EQUAL(t->shape.ndim, want[i].ndim);
        for (int d = 0; d < want[i].ndim; d++)
            CU_ASSERT_EQUAL(t->shape.dims[d], want[i].dims[d]);
        CU_ASSERT_EQUAL(tc_shape_count(&t->shape), want[i].count);
        CU_ASSERT_PTR_NOT_NULL(t->data); /* even for zero elements */
        CU_ASSERT(bits_equal(t->data, want[i].data, want[i].count));
        CU_ASSERT_PTR_EQUAL(tc_checkpoint_find(&back, want[i].name), t);
    }
    CU_ASSERT_PTR_NULL(tc_checkpoint_find(&back, "missing"));
    CU_ASSERT_PTR_NULL(tc_checkpoint_find(&back, "scala"));
    tc_checkpoint_free(&back);
}

/* NULL texts are stored as empty ones; an empty checkpoint is valid. */
static void test_empty_checkpoint(void)
{
    tc_error err;
    tc_checkpoint ck = {0}, back;
    uint8_t *p;
    size_t n;
    TCU_ASSERT_OK(tc_checkpoint_encode(&ck, &p, &n, &err), &err);
    CU_ASSERT_EQUAL(n, 16 + 3 * 12 + 4 + 4);
    TCU_ASSERT_OK(tc_checkpoint_parse(p, n, "e", &back, &err), &err);
    CU_ASSERT_STRING_EQUAL(back.model_json, "");
    CU_ASSERT_STRING_EQUAL(back.meta_json, "");
    CU_ASSERT_EQUAL(back.n_tensors, 0);
    tc_checkpoint_free(&back);
    free(p);
}

/* Every proper prefix of a valid file is refused as truncated. */
static void test_every_truncation(void)
{
    tc_error err;
    uint8_t *p;
    size_t n;
    encode_small(&p, &n);
    size_t expect_n = 16 + (12 + strlen(small_model)) + (12 + strlen(small_meta)) + 12 + 4 +
                      (4 + 12 + 4 + 32 + 600) + (4 + 7 + 4 + 8 + 12) + 4;
    CU_ASSERT_EQUAL_FATAL(n, expect_n);

    int refused = 0, said_truncated = 0;
    for (size_t len = 0; len < n; len++) {
        /* A copy of exactly len bytes, so ASan catches any read past it. */
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, p, len);
        tc_checkpoint out;
        memset(&out, 0x5A, sizeof out);
        err.msg[0] = 0;
        if (tc_checkpoint_parse(cut, len, "cut.ckpt", &out, &err) != 0)
            refused++;
        if (strstr(err.msg, "cut.ckpt: truncated: "))
            said_truncated++;
        else
            fprintf(stderr, "\n  length %zu: %s\n", len, err.msg);
        CU_ASSERT(is_empty(&out));
        free(cut);
    }
    CU_ASSERT_EQUAL(refused, (int)n);
    CU_ASSERT_EQUAL(said_truncated, (int)n);

    /* Cut 12 bytes into conv1.weight's data: the message names the tensor. */
    size_t data_at = 16 + 12 + strlen(small_model) + 12 + strlen(small_meta) + 12 + 4 + 4 + 12 +
                     4 + 32;
    expect_refused(p, data_at + 12, "crafted.ckpt: truncated: tensor 'conv1.weight' needs 600 "
                                    "bytes, 12 remain");
    /* Cut inside the model text. */
    expect_refused(p, 16 + 12 + 5, "truncated: the model JSON section (kind 1) needs 23 bytes, "
                                   "5 remain");
    /* Everything but the last byte of the checksum. */
    expect_refused(p, n - 1, "truncated: the checksum needs 4 bytes, 3 remain");
    free(p);
}

/* Every single-byte change anywhere in the file is refused. */
static void test_every_corruption(void)
{
    tc_error err;
    uint8_t *p;
    size_t n;
    encode_small(&p, &n);

    static const uint8_t flips[] = {0x01, 0x80, 0xFF, 0x10};
    int tried = 0, refused = 0, named = 0;
    uint8_t *q = malloc(n);
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(q, p, n);
            q[i] ^= flips[f];
            tc_checkpoint out;
            err.msg[0] = 0;
            tried++;
            if (tc_checkpoint_parse(q, n, "flip.ckpt", &out, &err) != 0)
                refused++;
            else
                tc_checkpoint_free(&out);
            if (strncmp(err.msg, "flip.ckpt: ", 11) == 0)
                named++;
            CU_ASSERT(is_empty(&out));
        }
    CU_ASSERT_EQUAL(tried, (int)(4 * n));
    CU_ASSERT_EQUAL(refused, tried);
    CU_ASSERT_EQUAL(named, tried);

    /* A flip in tensor data: only the CRC can tell. */
    memcpy(q, p, n);
    q[n - 10] ^= 0x04;
    expect_refused(q, n, "checksum mismatch: the file is corrupt");
    free(q);
    free(p);
}

static void test_wrong_magic(void)
{
    bytes b;
    b_header(&b, 1, 0);
    b_crc(&b);
    b.b[7] = 'X';
    expect_refused(b.b, b.n, "not a tiny-cnn checkpoint");
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13};
    expect_refused(png, sizeof png, "not a tiny-cnn checkpoint");
    expect_refused((const uint8_t *)"TCNX", 4, "not a tiny-cnn checkpoint");
    expect_refused((const uint8_t *)"TCNN", 4, "truncated: the header needs 16 bytes, 4 remain");
    tc_error err;
    tc_checkpoint out;
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_parse(NULL, 0, "nothing", &out, &err), &err,
                          "nothing: truncated: the file is empty");
}

static void test_versions(void)
{
    bytes b;
    b_header(&b, 2, 3);
    b_text(&b, 1, "{}");
    b_text(&b, 2, "{}");
    b_section(&b, 3, "\0\0\0\0", 4);
    b_crc(&b);
    expect_refused(b.b, b.n, "the file has checkpoint format version 2, but this build reads "
                             "only version 1");
    /* A much newer file may use a layout we cannot walk: the version is
     * checked before anything else. */
    set_u32(b.b + 8, 1000);
    set_u32(b.b + 12, 0xFFFFFFFFu);
    expect_refused(b.b, b.n, "version 1000");
    set_u32(b.b + 8, 0);
    expect_refused(b.b, b.n, "invalid checkpoint format version 0");
    /* Version 1 of the same bytes (count fixed back) is fine. */
    set_u32(b.b + 8, 1);
    set_u32(b.b + 12, 3);
    fix_crc(b.b, b.n);
    tc_checkpoint out;
    tc_error err;
    TCU_ASSERT_OK(tc_checkpoint_parse(b.b, b.n, "v1", &out, &err), &err);
    tc_checkpoint_free(&out);
}

/* Lengths and counts far beyond the file are refused before any use. */
static void test_hostile_lengths(void)
{
    uint8_t *p;
    size_t n;
    encode_small(&p, &n);
    uint8_t *q = malloc(n);
    size_t model_len_at = 16 + 4;
    size_t tensors_at = 16 + 12 + strlen(small_model) + 12 + strlen(small_meta);

    /* Model section length 2^63, with and without a matching CRC. */
    memcpy(q, p, n);
    set_u64(q + model_len_at, (uint64_t)1 << 63);
    expect_refused(q, n, "the model JSON section (kind 1) needs 9223372036854775808 bytes");
    fix_crc(q, n);
    expect_refused(q, n, "needs 9223372036854775808 bytes");
    /* 2^64 - 1: offset arithmetic must not wrap. */
    set_u64(q + model_len_at, UINT64_MAX);
    fix_crc(q, n);
    expect_refused(q, n, "needs 18446744073709551615 bytes");
    /* Section length too small: the next "header" is read from the model
     * text, whose bytes "ame\"" make kind 0x22656d61. */
    memcpy(q, p, n);
    set_u64(q + model_len_at, 3);
    fix_crc(q, n);
    expect_refused(q, n, "the unknown section (kind 577072481) needs");

    /* Section count 2^32 - 1. */
    memcpy(q, p, n);
    set_u32(q + 12, 0xFFFFFFFFu);
    fix_crc(q, n);
    expect_refused(q, n, "truncated: the header of section 4 of 4294967295 needs 12 bytes, "
                         "4 remain");

    /* Tensor count 2^32 - 1 (CRC valid): parsing runs out, no huge alloc. */
    memcpy(q, p, n);
    set_u32(q + tensors_at + 12, 0xFFFFFFFFu);
    fix_crc(q, n);
    expect_refused(q, n, "corrupt tensors section: the name length of tensor 2 needs 4 bytes, "
                         "0 remain in the section");

    /* Name length 2^32 - 1. */
    memcpy(q, p, n);
    set_u32(q + tensors_at + 16, 0xFFFFFFFFu);
    fix_crc(q, n);
    expect_refused(q, n, "the name of tensor 0 needs 4294967295 bytes");

    /* A dimension of 2^62: the element count overflows. */
    memcpy(q, p, n);
    set_u64(q + tensors_at + 16 + 4 + 12 + 4, (uint64_t)1 << 62);
    fix_crc(q, n);
    expect_refused(q, n, "tensor 'conv1.weight': the element count overflows");
    /* [2^31, 3, 5, 5]: a data size far beyond the section. */
    memcpy(q, p, n);
    set_u64(q + tensors_at + 16 + 4 + 12 + 4, (uint64_t)1 << 31);
    fix_crc(q, n);
    expect_refused(q, n, "tensor 'conv1.weight' needs 644245094400 bytes");
    /* A negative dimension. */
    memcpy(q, p, n);
    set_u64(q + tensors_at + 16 + 4 + 12 + 4, (uint64_t)-5);
    fix_crc(q, n);
    expect_refused(q, n, "tensor 'conv1.weight': dimension 0 is negative (-5)");
    /* fc.bias [3] -> [1] leaves unparsed bytes at the end of the section. */
    memcpy(q, p, n);
    set_u64(q + tensors_at + 16 + (4 + 12 + 4 + 32 + 600) + 4 + 7 + 4, 1);
    fix_crc(q, n);
    expect_refused(q, n, "corrupt tensors section: 8 bytes left after 2 tensors");
    free(q);
    free(p);
}

static void test_bad_ndim_and_names(void)
{
    float d[1] = {1};
    int64_t dims[7] = {1, 1, 1, 1, 1, 1, 1};
    bytes t = {.n = 0};

    b_u32(&t, 1);
    b_tensor(&t, "deep", 7, dims, d);
    expect_tensors_refused(&t, "tensor 'deep' has 7 dimensions (at most 6)");

    t.n = 0;
    b_u32(&t, 3);
    b_tensor(&t, "a", 1, dims, d);
    b_tensor(&t, "b", 1, dims, d);
    b_tensor(&t, "a", 0, dims, d);
    expect_tensors_refused(&t, "duplicate tensor name 'a'");

    t.n = 0;
    b_u32(&t, 1);
    b_u32(&t, 3); /* the name "a\0b", by hand since b_tensor uses strlen */
    b_put(&t, "a\0b", 3);
    b_u32(&t, 0);
    b_put(&t, d, 4);
    expect_tensors_refused(&t, "the name of tensor 0 contains a NUL byte");

    t.n = 0;
    b_u32(&t, 1);
    b_u32(&t, 0); /* empty name */
    b_u32(&t, 0);
    b_put(&t, d, 4);
    expect_tensors_refused(&t, "tensor 0 has an empty name");
}

static void test_sections(void)
{
    float d[2] = {7.0f, -1.5f};
    int64_t dims[1] = {2};
    bytes t = {.n = 0}, b;
    b_u32(&t, 1);
    b_tensor(&t, "x", 1, dims, d);

    /* Unknown kinds, before and between the known ones, are skipped. */
    b_header(&b, 1, 5);
    b_section(&b, 99, "future stuff\0\xff", 14);
    b_text(&b, 2, "{\"m\":1}");
    b_section(&b, 0x80000000u, "", 0);
    b_section(&b, 3, t.b, t.n);
    b_text(&b, 1, "{\"model\":true}");
    b_crc(&b);
    tc_checkpoint out;
    tc_error err;
    TCU_ASSERT_OK(tc_checkpoint_parse(b.b, b.n, "future", &out, &err), &err);
    CU_ASSERT_STRING_EQUAL(out.model_json, "{\"model\":true}");
    CU_ASSERT_STRING_EQUAL(out.meta_json, "{\"m\":1}");
    CU_ASSERT_EQUAL_FATAL(out.n_tensors, 1);
    CU_ASSERT_EQUAL(out.tensors[0].data[0], 7.0f);
    CU_ASSERT_EQUAL(out.tensors[0].data[1], -1.5f);
    tc_checkpoint_free(&out);

    /* Layouts refused whole: sections of kind 1 and 2 hold the text given
     * (len bytes, 0: up to its NUL), kind 3 the tensors above. */
    static const struct {
        int n;
        struct {
            uint32_t kind;
            const char *text;
            size_t len;
        } sec[4];
        const char *tail; /* bytes after the last section, or NULL */
        const char *needle;
    } bad[] = {
        /* a known section twice */
        {4, {{1, "{}", 0}, {2, "{}", 0}, {1, "{}", 0}, {3, NULL, 0}},
         NULL, "the model JSON section appears twice"},
        /* a missing section */
        {2, {{1, "{}", 0}, {3, NULL, 0}}, NULL,
         "the metadata JSON section is missing"},
        /* a NUL inside a JSON text */
        {3, {{1, "{}\0{}", 5}, {2, "{}", 0}, {3, NULL, 0}}, NULL,
         "the model JSON section contains a NUL byte"},
        /* bytes after the last section */
        {3, {{1, "{}", 0}, {2, "{}", 0}, {3, NULL, 0}}, "xy",
         "corrupt: 2 unexpected bytes after section 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b_header(&b, 1, (uint32_t)bad[i].n);
        for (int j = 0; j < bad[i].n; j++) {
            const char *x = bad[i].sec[j].text;
            if (bad[i].sec[j].kind == 3)
                b_section(&b, 3, t.b, t.n);
            else
                b_section(&b, bad[i].sec[j].kind, x, bad[i].sec[j].len ? bad[i].sec[j].len
                                                                       : strlen(x));
        }
        if (bad[i].tail)
            b_put(&b, bad[i].tail, strlen(bad[i].tail));
        b_crc(&b);
        expect_refused(b.b, b.n, bad[i].needle);
    }
}

static void test_add_validation(void)
{
    tc_checkpoint ck = {0};
    tc_error err;
    float d[4] = {0};
    int64_t neg[2] = {2, -1}, ok[2] = {2, 2}, big[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 4};
    tc_shape s = shape_of(2, ok);
    s.ndim = 7;
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, d, &err), &err, "ndim 7 is outside");
    s.ndim = -1;
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, d, &err), &err, "ndim -1 is outside");
    s = shape_of(2, neg);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, d, &err), &err,
                          "tensor 'a': dimension 1 is negative (-1)");
    s = shape_of(3, big);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, d, &err), &err, "overflows");
    s = shape_of(2, ok);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "", &s, d, &err), &err, "must not be empty");
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, NULL, &err), &err, "data is NULL");
    CU_ASSERT_EQUAL(ck.n_tensors, 0);
    TCU_ASSERT_OK(tc_checkpoint_add(&ck, "a", &s, d, &err), &err);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_add(&ck, "a", &s, d, &err), &err,
                          "tensor 'a' is already in the checkpoint");
    CU_ASSERT_EQUAL(ck.n_tensors, 1);
    /* A zero-element tensor needs no data. */
    int64_t z[1] = {0};
    s = shape_of(1, z);
    TCU_ASSERT_OK(tc_checkpoint_add(&ck, "z", &s, NULL, &err), &err);
    CU_ASSERT_PTR_NOT_NULL(ck.tensors[1].data);

    /* A struct edited by hand into an invalid state is refused by the
     * writer before any file is created. */
    ck.tensors[0].shape.dims[1] = -3;
    char path[512];
    snprintf(path, sizeof path, "%s/invalid.ckpt", tcu_tmpdir());
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_write(path, &ck, &err), &err,
                          "invalid.ckpt: tensor 'a': dimension 1 is negative (-3)");
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    /* So is a duplicate name put there by hand (the reader would refuse it). */
    ck.tensors[0].shape.dims[1] = 2;
    ck.tensors[1].name[0] = 'a';
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_write(path, &ck, &err), &err,
                          "invalid.ckpt: duplicate tensor name 'a'");
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    uint8_t *bytes;
    size_t nbytes;
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_encode(&ck, &bytes, &nbytes, &err), &err,
                          "duplicate tensor name 'a'");
    CU_ASSERT_PTR_NULL(bytes);
    tc_checkpoint_free(&ck);
    CU_ASSERT(is_empty(&ck));
    tc_checkpoint_free(NULL);
}

/* ---- writing failures ----------------------------------------------------- */

/* Number of entries in dir whose name contains ".tmp.". */
static int temp_files_in(const char *dir)
{
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void test_write_missing_folder(void)
{
    tc_checkpoint ck;
    tc_error err;
    make_small(&ck);
    char path[512];
    snprintf(path, sizeof path, "%s/no-such-folder/model.ckpt", tcu_tmpdir());
    err.msg[0] = 0;
    CU_ASSERT_NOT_EQUAL(tc_checkpoint_write(path, &ck, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(ENOENT)));

    /* A "folder" that is a regular file. */
    const char *file = tcu_write_file("plainfile", "x", 1);
    snprintf(path, sizeof path, "%s/model.ckpt", file);
    err.msg[0] = 0;
    CU_ASSERT_NOT_EQUAL(tc_checkpoint_write(path, &ck, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(ENOTDIR)));
    CU_ASSERT_EQUAL(temp_files_in(tcu_tmpdir()), 0);
    tc_checkpoint_free(&ck);
}

/* A full disk, with a real ENOSPC from /dev/full through the same encoder
 * the atomic writer uses. */
static void test_write_enospc(void)
{
    int fd = open("/dev/full", O_WRONLY);
    CU_ASSERT_FATAL(fd >= 0);
    tc_checkpoint ck;
    tc_error err;
    make_small(&ck);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_write_fd(fd, "/dev/full", &ck, &err), &err,
                          "/dev/full: write failed: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(ENOSPC)));
    close(fd);
    tc_checkpoint_free(&ck);
}

/* A write that fails half way (the file-size limit stands in for a full
 * disk and works even as root) leaves the old checkpoint byte for byte and
 * no temporary file. */
static void test_failed_write_keeps_old_file(void)
{
    tc_error err;
    tc_checkpoint small = {0}, big;
    small.model_json = strdup("{\"old\":1}");
    char path[512];
    snprintf(path, sizeof path, "%s/keep.ckpt", tcu_tmpdir());
    TCU_ASSERT_OK(tc_checkpoint_write(path, &small, &err), &err);
    size_t n_old;
    uint8_t *old = slurp(path, &n_old);
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    CU_ASSERT_EQUAL(n_old, 16 + 12 + 9 + 12 + 12 + 4 + 4);

    make_small(&big); /* about 750 bytes */
    struct rlimit saved, lim;
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = saved;
    lim.rlim_cur = 300;
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
    err.msg[0] = 0;
    int rc = tc_checkpoint_write(path, &big, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(EFBIG)));

    size_t n_now;
    uint8_t *now = slurp(path, &n_now);
    CU_ASSERT(now && n_now == n_old && memcmp(now, old, n_old) == 0);
    CU_ASSERT_EQUAL(temp_files_in(tcu_tmpdir()), 0);
    free(now);

    /* Without the limit the same write succeeds and replaces the file. */
    TCU_ASSERT_OK(tc_checkpoint_write(path, &big, &err), &err);
    tc_checkpoint back;
    TCU_ASSERT_OK(tc_checkpoint_read(path, &back, &err), &err);
    CU_ASSERT_EQUAL(back.n_tensors, 2);
    tc_checkpoint_free(&back);
    CU_ASSERT_EQUAL(temp_files_in(tcu_tmpdir()), 0);

    free(old);
    tc_checkpoint_free(&small);
    tc_checkpoint_free(&big);
}

/* A target that is a (non-empty) folder: refused before anything is
 * written (rename() would fail on it, and would replace a device or FIFO
 * outright), with no temporary file left and the folder untouched. */
static void test_rename_failure(void)
{
    tc_error err;
    tc_checkpoint ck;
    make_small(&ck);
    char dir[512], inner[600];
    snprintf(dir, sizeof dir, "%s/occupied", tcu_tmpdir());
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", dir);
    FILE *f = fopen(inner, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    err.msg[0] = 0;
    CU_ASSERT_NOT_EQUAL(tc_checkpoint_write(dir, &ck, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, dir));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not a regular file"));
    CU_ASSERT_EQUAL(access(inner, F_OK), 0);
    CU_ASSERT_EQUAL(temp_files_in(tcu_tmpdir()), 0);
    tc_checkpoint_free(&ck);
}

/* A relative path (folder ".") works, and success leaves no temp file. */
static void test_relative_path(void)
{
    tc_error err;
    tc_checkpoint ck, back;
    make_small(&ck);
    char cwd[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    CU_ASSERT_EQUAL_FATAL(chdir(tcu_tmpdir()), 0);
    int rc = tc_checkpoint_write("rel.ckpt", &ck, &err);
    int rc2 = tc_checkpoint_read("rel.ckpt", &back, &err);
    int tmps = temp_files_in(".");
    CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(rc2, 0);
    CU_ASSERT_EQUAL(tmps, 0);
    CU_ASSERT_EQUAL(back.n_tensors, 2);
    tc_checkpoint_free(&back);
    tc_checkpoint_free(&ck);
}

static void test_read_errors(void)
{
    tc_error err;
    tc_checkpoint out;
    char path[512];
    snprintf(path, sizeof path, "%s/absent.ckpt", tcu_tmpdir());
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_read(path, &out, &err), &err, "absent.ckpt: cannot open: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, strerror(ENOENT)));
    CU_ASSERT(is_empty(&out));
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_read(tcu_tmpdir(), &out, &err), &err,
                          "not a regular file");

    /* A sparse file just over the size limit is refused without reading it. */
    snprintf(path, sizeof path, "%s/huge.ckpt", tcu_tmpdir());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(fd, (off_t)TC_CHECKPOINT_MAX_BYTES + 1), 0);
    close(fd);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_read(path, &out, &err), &err,
                          "huge.ckpt: the file is too large (2147483649 bytes; the limit is "
                          "2147483648)");
    unlink(path);

    /* A corrupt file on disk: the message names the path. */
    tc_checkpoint ck;
    make_small(&ck);
    uint8_t *p;
    size_t n;
    TCU_ASSERT_OK(tc_checkpoint_encode(&ck, &p, &n, &err), &err);
    p[100] ^= 1;
    const char *bad = tcu_write_file("bad.ckpt", p, n);
    TCU_ASSERT_FAILS_WITH(tc_checkpoint_read(bad, &out, &err), &err, "bad.ckpt: checksum mismatch");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad));
    free(p);
    tc_checkpoint_free(&ck);
}

int main(void)
{
    static const tcu_test tests[] = {
        {"layout matches the format by hand", test_layout_by_hand},
        {"round trip of texts and tensors of rank 0..6", test_round_trip},
        {"empty checkpoint", test_empty_checkpoint},
        {"every truncation is refused", test_every_truncation},
        {"every single-byte corruption is refused", test_every_corruption},
        {"wrong magic", test_wrong_magic},
        {"format versions", test_versions},
        {"hostile lengths and counts", test_hostile_lengths},
        {"bad ndim, duplicate and bad names", test_bad_ndim_and_names},
        {"unknown, duplicate, missing sections", test_sections},
        {"tc_checkpoint_add validation", test_add_validation},
        {"write into a missing folder", test_write_missing_folder},
        {"write to a full disk", test_write_enospc},
        {"failed write keeps the old file", test_failed_write_keeps_old_file},
        {"a folder as the target is refused", test_rename_failure},
        {"relative path", test_relative_path},
        {"read errors", test_read_errors},
        {NULL, NULL},
    };
    return tcu_run("checkpoint", tests);
}
