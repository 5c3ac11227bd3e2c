/* Command-line settings (KEY=VALUE arguments, as Ultralytics' CLI takes them) shared by the tools.
 *
 * A tool describes its settings in a table; cli_parse_settings walks argv, fills the table's targets
 * and prints the tool's one usage line on a mistake, so that every tool words the same mistake the
 * same way: "TOOL: KEY must be WHAT, not 'VALUE' (see 'TOOL --help')". The primitives below it serve
 * tools that keep their own loop. */
#ifndef YOLO_CLI_H
#define YOLO_CLI_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CLI_STR,    /* const char *: the value as given (argv outlives the parse) */
    CLI_INT,    /* int in [lo, hi] */
    CLI_DOUBLE, /* finite double in [lo, hi] */
} cli_type;

typedef struct {
    const char *key;
    cli_type type;
    void *dst;        /* const char **, int * or double *, by type */
    double lo, hi;    /* accepted range of CLI_INT and CLI_DOUBLE */
    const char *what; /* completes "KEY must be WHAT, not 'VALUE'", e.g. "a positive integer" */
    bool *given;      /* set to true when the key appears; may be NULL */
} cli_setting;

/* Table entries; the conditionals make the compiler check the target's type. */
#define CLI_TEXT(k, p)                                                                                       \
    { .key = (k), .type = CLI_STR, .dst = (1 ? (p) : (const char **)0) }
#define CLI_INT_IN(k, p, l, h, w)                                                                            \
    { .key = (k), .type = CLI_INT, .dst = (1 ? (p) : (int *)0), .lo = (l), .hi = (h), .what = (w) }
#define CLI_DOUBLE_IN(k, p, l, h, w)                                                                         \
    { .key = (k), .type = CLI_DOUBLE, .dst = (1 ? (p) : (double *)0), .lo = (l), .hi = (h), .what = (w) }

/* A bare word that sets a flag (such as --json). */
typedef struct {
    const char *name;
    bool *dst;
} cli_flag;

/* Parses argv[1..argc-1] as flags and KEY=VALUE settings. --help, -h and help print usage on stdout
 * and return -1; a mistake prints one line on stderr and returns YOLO_EXIT_USAGE; 0 when all is well.
 * The unknown-key message lists the table's keys in table order. */
int cli_parse_settings(const char *tool, const char *usage, const cli_setting *settings, int n_settings,
                       const cli_flag *flags, int n_flags, int argc, char **argv);

/* Prints "TOOL: MESSAGE (see 'TOOL --help')" on stderr and returns YOLO_EXIT_USAGE. */
int cli_usage_error(const char *tool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "key=value": the key (not NUL-terminated, key_len bytes) and the value after the first '='.
 * False when there is no '=' or the key is empty. */
typedef struct {
    const char *key;
    size_t key_len;
    const char *value;
} cli_kv;
bool cli_split_setting(const char *arg, cli_kv *kv);
bool cli_key_is(const cli_kv *kv, const char *name);

/* An argument is a setting only when its key is a plain name ([A-Za-z0-9_]+) and no file of that
 * name exists: paths may hold '=' too (runs/lr0=0.01/weights/last.pt, as yolo-sweep names runs). */
bool cli_is_setting(const char *arg);

/* Whole-string parses; false on trailing text, overflow or a value outside [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, int *out);
bool cli_parse_double(const char *s, double *out); /* finite values only */
/* true/false in Ultralytics' spellings (True, true, 1 / False, false, 0). */
bool cli_parse_bool(const char *s, bool *out);

/* Runs another yolo-tools program in this process: the one next to this binary (an installed or built
 * set stays together), else NAME on PATH. Returns only on failure, with the errno. */
int cli_exec_tool(const char *name, char **argv);

#ifdef __cplusplus
}
#endif
#endif
