/* The help lines of the training settings, made from their table (see
 * tinycnn/train_settings.h), so that --help always says what is accepted. */
#include <stdio.h>
#include <string.h>

#include "tinycnn/train_settings.h"

typedef struct out {
    char *b;
    size_t cap, n;
} out;

static void put(out *o, const char *s)
{
    if (o->n < o->cap)
        snprintf(o->b + o->n, o->cap - o->n, "%s", s);
    o->n += strlen(s);
}

/* "  OPTION META   text", text wrapped at 80 columns under column 24; '\a'
 * is a space that does not break. */
static void help_line(out *o, const char *left, const char *text)
{
    enum { indent = 24, width = 80 };
    char head[80];
    snprintf(head, sizeof head, "  %-21s", left);
    put(o, head);
    size_t col = indent - 1;
    for (const char *w = text; *w;) {
        size_t len = strcspn(w, " ");
        if (col + 1 + len > width) {
            put(o, "\n");
            snprintf(head, sizeof head, "%*s", indent - 1, "");
            put(o, head);
            col = indent - 1;
        }
        char word[512];
        size_t k = 0;
        word[k++] = ' ';
        for (size_t i = 0; i < len && k + 1 < sizeof word; i++)
            word[k++] = w[i] == '\a' ? ' ' : w[i];
        word[k] = 0;
        put(o, word);
        col += 1 + len;
        w += len;
        w += *w == ' ';
    }
    put(o, "\n");
}

static void unbreakable(char *s)
{
    for (; *s; s++)
        if (*s == ' ')
            *s = '\a';
}

/* "  --epochs N   number of epochs: an integer in [1, 100000] (default 10)" */
static void setting_help(out *o, const tc_train_setting *s, const tc_train_config *d)
{
    char left[64], text[512], range[128], def[64];
    snprintf(left, sizeof left, "%s%s%s", s->option, s->metavar ? " " : "",
             s->metavar ? s->metavar : "");
    tc_train_setting_range(s, range, sizeof range);
    tc_train_setting_format(s, tc_train_setting_get(s, d), def, sizeof def);
    unbreakable(range);
    if (s->metavar)
        snprintf(text, sizeof text, "%s: %s (default\a%s)", s->help, range, def);
    else
        snprintf(text, sizeof text, "%s", s->help);
    help_line(o, left, text);
}

size_t tc_train_settings_help(char *buf, size_t cap)
{
    out o = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    tc_train_config d;
    tc_train_config_defaults(&d);
    for (int i = 0; i < tc_train_settings_count(); i++)
        setting_help(&o, tc_train_setting_at(i), &d);
    return o.n;
}
