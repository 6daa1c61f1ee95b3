/* JPEG images through libjpeg (Debian's libjpeg-dev: libjpeg-turbo). The
 * hostile-input rules are the PNG reader's: refuse absurd sizes before
 * taking pixel memory, never print, never exit, name the file. */
#define _POSIX_C_SOURCE 200809L
#include "tinycnn/dataset.h"
#include "tinycnn/status.h"
#include "dataset_internal.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* A progressive file may hold any number of scans, each a pass over the
 * whole image: a small file can so take minutes. Real ones have about 10. */
#define TC_JPEG_MAX_SCANS 500
/* libjpeg's working memory beyond the output rows: the whole-image
 * coefficient buffers of progressive files (2 bytes a sample). */
#define TC_JPEG_MAX_MEMORY (512L << 20)

typedef struct jpeg_errors {
    struct jpeg_error_mgr pub; /* first: libjpeg hands back &pub */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int code;
} jpeg_errors;

/* Everything the setjmp-protected decoder touches lives here, outside the
 * function that calls setjmp (see dataset_png.c). */
typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    jpeg_errors jerr;
    struct jpeg_progress_mgr progress;
    FILE *fp;
    int created;
    int channels;
    int want_h, want_w; /* 0: any size */
    int size_mismatch, too_big;
    unsigned h, w;
    int comps; /* decoded components: 1 gray, 3 RGB, 4 CMYK */
    int adobe; /* CMYK stored inverted, as Adobe's software writes it */
    uint8_t *raw;
} jpeg_job;

static void on_jpeg_error(j_common_ptr cinfo)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    e->code = e->pub.msg_code;
    (*e->pub.format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* The library must not print: libjpeg's default writes to stderr. */
static void on_jpeg_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* A warning (level -1) means damaged data that libjpeg would decode anyway,
 * a truncated file padded with gray among them: refused like an error.
 * Trace messages (level >= 0) are dropped. */
static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        on_jpeg_error(cinfo);
}

static void on_jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > TC_JPEG_MAX_SCANS) {
        jpeg_errors *e = (jpeg_errors *)cinfo->err;
        e->code = -1;
        snprintf(e->msg, sizeof e->msg, "more than %d scans (real files have about 10)",
                 TC_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* The colour space to decode into, or JCS_UNKNOWN when none fits. */
static J_COLOR_SPACE output_space(J_COLOR_SPACE in, int components, int channels)
{
    switch (in) {
    case JCS_GRAYSCALE:
        return JCS_GRAYSCALE;
    case JCS_YCbCr:
    case JCS_RGB:
        return channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    case JCS_CMYK:
    case JCS_YCCK:
        return JCS_CMYK;
    default:
        /* libjpeg guesses from the component count when no marker says */
        return components == 1 ? JCS_GRAYSCALE : JCS_UNKNOWN;
    }
}

static int jpeg_decode(jpeg_job *j)
{
    struct jpeg_decompress_struct *ci = &j->cinfo;
    if (setjmp(j->jerr.jump))
        return 1;
    jpeg_create_decompress(ci);
    j->created = 1;
    ci->mem->max_memory_to_use = TC_JPEG_MAX_MEMORY;
    j->progress.progress_monitor = on_jpeg_progress;
    ci->progress = &j->progress;
    jpeg_stdio_src(ci, j->fp);
    jpeg_read_header(ci, TRUE);
    j->w = ci->image_width;
    j->h = ci->image_height;
    if (j->w > TC_PNG_MAX_DIM || j->h > TC_PNG_MAX_DIM) {
        j->too_big = 1;
        return 1;
    }
    if (j->want_h && (j->h != (unsigned)j->want_h || j->w != (unsigned)j->want_w)) {
        j->size_mismatch = 1;
        return 1;
    }
    J_COLOR_SPACE out = output_space(ci->jpeg_color_space, ci->num_components, j->channels);
    if (out == JCS_UNKNOWN) {
        snprintf(j->jerr.msg, sizeof j->jerr.msg,
                 "unsupported colour space (%d components, libjpeg colour space %d)",
                 ci->num_components, (int)ci->jpeg_color_space);
        return 1;
    }
    ci->out_color_space = out;
    j->adobe = ci->saw_Adobe_marker;
    jpeg_start_decompress(ci);
    j->comps = ci->output_components;
    if ((j->comps != 1 && j->comps != 3 && j->comps != 4) || ci->output_width != j->w ||
        ci->output_height != j->h) {
        snprintf(j->jerr.msg, sizeof j->jerr.msg, "unsupported layout after decoding");
        return 1;
    }
    size_t row = (size_t)j->w * (size_t)j->comps;
    j->raw = malloc(row * j->h);
    if (!j->raw) {
        snprintf(j->jerr.msg, sizeof j->jerr.msg, "out of memory for %ux%u pixels", j->h, j->w);
        return 1;
    }
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW r = j->raw + (size_t)ci->output_scanline * row;
        jpeg_read_scanlines(ci, &r, 1);
    }
    /* Reads on to the EOI marker, so a file cut there still fails. */
    jpeg_finish_decompress(ci);
    return 0;
}

/* Ink to light: Adobe's files store 255 - ink, so light = stored C * K / 255. */
static inline unsigned cmyk_light(unsigned c, unsigned k, int adobe)
{
    if (!adobe) {
        c = 255 - c;
        k = 255 - k;
    }
    return (c * k + 127) / 255;
}

/* Converts the decoded interleaved rows into channels planes (CHW). */
static void jpeg_convert(const jpeg_job *j, int channels, uint8_t *dst)
{
    size_t plane = (size_t)j->h * j->w;
    const uint8_t *s = j->raw;
    for (size_t i = 0; i < plane; i++, s += j->comps) {
        unsigned r, g, b;
        if (j->comps == 1) {
            r = g = b = s[0];
        } else if (j->comps == 3) {
            r = s[0];
            g = s[1];
            b = s[2];
        } else {
            r = cmyk_light(s[0], s[3], j->adobe);
            g = cmyk_light(s[1], s[3], j->adobe);
            b = cmyk_light(s[2], s[3], j->adobe);
        }
        if (channels == 1) {
            /* 3 components only come from CMYK here: Rec. 601 as for PNG */
            dst[i] = j->comps == 1 ? (uint8_t)r
                                   : (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
        } else {
            dst[i] = (uint8_t)r;
            dst[plane + i] = (uint8_t)g;
            dst[2 * plane + i] = (uint8_t)b;
        }
    }
}

/* The first bytes: FF D8 (start of image), then a marker's FF. */
static int check_signature(const char *path, FILE *fp, tc_error *err)
{
    unsigned char head[3];
    size_t got = fread(head, 1, sizeof head, fp);
    if (got == 0)
        return tc_error_set(err, "%s: empty file, not a JPEG", path);
    if (got < 2 || head[0] != 0xFF || head[1] != 0xD8)
        return tc_error_set(err, "%s: not a JPEG file (bad signature)", path);
    if (got < 3)
        return tc_error_set(err, "%s: corrupt JPEG: truncated file after the start marker", path);
    rewind(fp);
    return 0;
}

static void report(const jpeg_job *j, const char *path, tc_error *err)
{
    if (j->too_big)
        tc_error_set(err, "%s: image is %ux%u (height x width), larger than the %dx%d limit",
                     path, j->h, j->w, TC_PNG_MAX_DIM, TC_PNG_MAX_DIM);
    else if (j->size_mismatch)
        tc_error_set(err, "%s: image is %ux%u (height x width) but %dx%d was expected", path,
                     j->h, j->w, j->want_h, j->want_w);
    else if (j->jerr.code == JERR_NO_BACKING_STORE)
        tc_error_set(err, "%s: JPEG of %ux%u needs more than %ld MiB to decode", path, j->h,
                     j->w, TC_JPEG_MAX_MEMORY >> 20);
    else
        tc_error_set(err, "%s: corrupt JPEG: %s", path, j->jerr.msg);
}

/* Reads path into dst (when want_h > 0: exactly want_h x want_w, dst holds
 * channels*h*w bytes) or into a new buffer *alloc (owned by the caller). */
static int jpeg_load(const char *path, int channels, int want_h, int want_w, uint8_t *dst,
                     uint8_t **alloc, int *out_h, int *out_w, tc_error *err)
{
    if (channels != 1 && channels != 3)
        return tc_error_set(err, "%s: cannot convert to %d channels (1: gray, 3: RGB)", path,
                            channels);
    jpeg_job *j = calloc(1, sizeof *j); /* libjpeg's structs are large for a stack */
    if (!j)
        return tc_error_set(err, "%s: out of memory for the JPEG decoder", path);
    j->channels = channels;
    j->want_h = want_h;
    j->want_w = want_w;
    int rc = 1;
    j->fp = tc_open_regular(path, "JPEG", err);
    if (!j->fp || check_signature(path, j->fp, err))
        goto done;
    j->cinfo.err = jpeg_std_error(&j->jerr.pub);
    j->jerr.pub.error_exit = on_jpeg_error;
    j->jerr.pub.output_message = on_jpeg_output;
    j->jerr.pub.emit_message = on_jpeg_message;
    if (jpeg_decode(j)) {
        report(j, path, err);
        goto done;
    }
    if (!dst) {
        dst = malloc((size_t)channels * j->h * j->w);
        if (!dst) {
            tc_error_set(err, "%s: out of memory", path);
            goto done;
        }
        *alloc = dst;
    }
    jpeg_convert(j, channels, dst);
    if (out_h)
        *out_h = (int)j->h;
    if (out_w)
        *out_w = (int)j->w;
    rc = 0;
done:
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    free(j->raw);
    if (j->fp)
        fclose(j->fp);
    free(j);
    return rc;
}

int tc_jpeg_load(const char *path, int channels, int height, int width, uint8_t *out,
                 tc_error *err)
{
    return tc_image_decode(jpeg_load, path, channels, height, width, out, err);
}

int tc_jpeg_load_any(const char *path, int channels, uint8_t **pixels, int *height, int *width,
                     tc_error *err)
{
    return tc_image_decode_any(jpeg_load, path, channels, pixels, height, width, err);
}
