/* lib/cli.c: KEY=VALUE splitting, whole-string number parses, the path-or-setting rule, and the
 * table-driven parse with its one-line messages (stderr is captured into a file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/cli.h"
#include "yolo/status.h"

/* Runs cli_parse_settings on argv with stderr sent to a file; returns its code and the message. */
static int parse_capture(const cli_setting *s, int ns, const cli_flag *f, int nf, int argc, char **argv,
                         char *msg, size_t cap) {
    FILE *err = tmpfile();
    if (!err) return -2;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(err), 2);
    int rc = cli_parse_settings("tool", "usage\n", s, ns, f, nf, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(err);
    size_t n = fread(msg, 1, cap - 1, err);
    msg[n] = 0;
    fclose(err);
    return rc;
}

int main(void) {
    cli_kv kv;
    CHECK(cli_split_setting("lr0=0.01", &kv) && kv.key_len == 3 && !strcmp(kv.value, "0.01") &&
              cli_key_is(&kv, "lr0") && !cli_key_is(&kv, "lr") && !cli_key_is(&kv, "lr0x"),
          "split: key lr0, value 0.01; key comparison is exact");
    CHECK(cli_split_setting("a=b=c", &kv) && kv.key_len == 1 && !strcmp(kv.value, "b=c"),
          "split at the first '='");
    CHECK(!cli_split_setting("=1", &kv) && !cli_split_setting("plain", &kv),
          "no key or no '=': not a setting");
    CHECK(cli_split_setting("k=", &kv) && !*kv.value, "an empty value still splits");

    CHECK(cli_is_setting("batch=8") && cli_is_setting("save_every=2"), "plain names are settings");
    CHECK(!cli_is_setting("runs/lr0=0.1/weights/last.pt") && !cli_is_setting("a-b=1") && !cli_is_setting("x"),
          "paths and odd keys are not settings");
    char dir[] = "/tmp/test_cli_dir.XXXXXX";
    if (mkdtemp(dir)) {
        char f[64];
        snprintf(f, sizeof f, "%s/q=1", dir);
        FILE *fp = fopen(f, "w");
        if (fp) fclose(fp);
        if (chdir(dir) == 0)
            CHECK(!cli_is_setting("q=1") && cli_is_setting("q=2"), "an existing file named q=1 is a path");
        unlink(f);
        if (chdir("/") == 0) rmdir(dir);
    }

    int i = -1;
    CHECK(cli_parse_int("42", 1, 100, &i) && i == 42, "int 42");
    CHECK(!cli_parse_int("", 0, 9, &i) && !cli_parse_int("4x", 0, 9, &i) && !cli_parse_int("10", 0, 9, &i) &&
              !cli_parse_int("-1", 0, 9, &i) && !cli_parse_int("99999999999999999999", 0, 9, &i),
          "empty, trailing text, out of range and overflow are refused");
    double d = 0;
    CHECK(cli_parse_double("1e-3", &d) && d == 1e-3, "double 1e-3");
    CHECK(!cli_parse_double("nan", &d) && !cli_parse_double("inf", &d) && !cli_parse_double("0.5x", &d) &&
              !cli_parse_double("", &d),
          "nan, inf, trailing text and empty are refused");
    bool b = false;
    CHECK(cli_parse_bool("True", &b) && b && cli_parse_bool("0", &b) && !b && cli_parse_bool("true", &b) &&
              b && cli_parse_bool("False", &b) && !b && !cli_parse_bool("yes", &b),
          "booleans in Ultralytics' spellings only");

    const char *name = "dflt";
    int n = 3;
    double conf = 0.25;
    bool json = false, conf_given = false;
    const cli_setting table[] = {
        CLI_TEXT("name", &name),
        CLI_INT_IN("n", &n, 1, 10, "an integer 1..10"),
        {.key = "conf",
         .type = CLI_DOUBLE,
         .dst = &conf,
         .lo = 0,
         .hi = 1,
         .what = "a number between 0 and 1",
         .given = &conf_given},
    };
    const cli_flag flags[] = {{"--json", &json}};
    char msg[512];
    char *ok_argv[] = {"tool", "name=x", "--json", "n=10", "conf=1", NULL};
    CHECK(parse_capture(table, 3, flags, 1, 5, ok_argv, msg, sizeof msg) == 0 && !strcmp(name, "x") &&
              n == 10 && conf == 1 && json && conf_given && !*msg,
          "a good command line fills every target and prints nothing");
    struct {
        char *arg;
        const char *want;
    } bad[] = {
        {"n=0", "tool: n must be an integer 1..10, not '0' (see 'tool --help')\n"},
        {"conf=-0.1", "tool: conf must be a number between 0 and 1, not '-0.1' (see 'tool --help')\n"},
        {"n=", "tool: 'n=' needs a value (see 'tool --help')\n"},
        {"bare", "tool: 'bare' is not KEY=VALUE (see 'tool --help')\n"},
        {"zz=1", "tool: unknown key 'zz' (keys: name, n, conf) (see 'tool --help')\n"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char *argv[] = {"tool", bad[k].arg, NULL};
        int rc = parse_capture(table, 3, flags, 1, 2, argv, msg, sizeof msg);
        CHECK(rc == YOLO_EXIT_USAGE && !strcmp(msg, bad[k].want), "'%s' is a usage error: %.*s", bad[k].arg,
              (int)strlen(bad[k].want) - 1, bad[k].want);
    }
    TAP_DONE();
}
