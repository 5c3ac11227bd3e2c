#include "yolo/cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/status.h"

int cli_usage_error(const char *tool, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s (see '%s --help')\n", tool, msg, tool);
    return YOLO_EXIT_USAGE;
}

bool cli_split_setting(const char *arg, cli_kv *kv) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return false;
    *kv = (cli_kv){.key = arg, .key_len = (size_t)(eq - arg), .value = eq + 1};
    return true;
}

bool cli_key_is(const cli_kv *kv, const char *name) {
    return strlen(name) == kv->key_len && !strncmp(kv->key, name, kv->key_len);
}

bool cli_is_setting(const char *arg) {
    cli_kv kv;
    if (!cli_split_setting(arg, &kv) || access(arg, F_OK) == 0) return false;
    for (size_t i = 0; i < kv.key_len; i++)
        if (!(isalnum((unsigned char)kv.key[i]) || kv.key[i] == '_')) return false;
    return true;
}

bool cli_parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

bool cli_parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cli_parse_bool(const char *s, bool *out) {
    bool t = !strcmp(s, "True") || !strcmp(s, "true") || !strcmp(s, "1");
    if (!t && strcmp(s, "False") && strcmp(s, "false") && strcmp(s, "0")) return false;
    *out = t;
    return true;
}

static int apply(const char *tool, const cli_setting *t, const char *v) {
    bool ok = true;
    switch (t->type) {
    case CLI_STR:
        *(const char **)t->dst = v;
        break;
    case CLI_INT:
        /* the range travels as double so one table serves both types; int bounds are exact in it */
        ok = cli_parse_int(v, (long)t->lo, (long)t->hi, (int *)t->dst);
        break;
    case CLI_DOUBLE: {
        double d;
        ok = cli_parse_double(v, &d) && d >= t->lo && d <= t->hi;
        if (ok) *(double *)t->dst = d;
        break;
    }
    }
    if (!ok) return cli_usage_error(tool, "%s must be %s, not '%s'", t->key, t->what, v);
    if (t->given) *t->given = true;
    return 0;
}

static int unknown_key(const char *tool, const cli_kv *kv, const cli_setting *settings, int n) {
    char keys[512];
    size_t len = 0;
    keys[0] = 0;
    for (int i = 0; i < n && len < sizeof keys; i++)
        len += (size_t)snprintf(keys + len, sizeof keys - len, "%s%s", i ? ", " : "", settings[i].key);
    int k = kv->key_len < 60 ? (int)kv->key_len : 60;
    return cli_usage_error(tool, "unknown key '%.*s' (keys: %s)", k, kv->key, keys);
}

int cli_parse_settings(const char *tool, const char *usage, const cli_setting *settings, int n_settings,
                       const cli_flag *flags, int n_flags, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h") || !strcmp(s, "help")) {
            fputs(usage, stdout);
            return -1;
        }
        int f = 0;
        while (f < n_flags && strcmp(s, flags[f].name))
            f++;
        if (f < n_flags) {
            *flags[f].dst = true;
            continue;
        }
        cli_kv kv;
        if (!cli_split_setting(s, &kv)) return cli_usage_error(tool, "'%s' is not KEY=VALUE", s);
        if (!*kv.value) return cli_usage_error(tool, "'%s' needs a value", s);
        int k = 0;
        while (k < n_settings && !cli_key_is(&kv, settings[k].key))
            k++;
        if (k == n_settings) return unknown_key(tool, &kv, settings, n_settings);
        int rc = apply(tool, &settings[k], kv.value);
        if (rc) return rc;
    }
    return 0;
}

int cli_exec_tool(const char *name, char **argv) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0 && (size_t)n + strlen(name) + 2 < sizeof self) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            strcpy(slash + 1, name);
            execv(self, argv);
        }
    }
    execvp(name, argv);
    return errno;
}
