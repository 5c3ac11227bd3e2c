#include "yolo/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *yolo_status_to_string(yolo_status status) {
    switch (status) {
    case YOLO_OK:
        return "ok";
    case YOLO_ERR_IO:
        return "i/o error";
    case YOLO_ERR_FORMAT:
        return "bad format";
    case YOLO_ERR_CRC:
        return "checksum mismatch";
    case YOLO_ERR_NOMEM:
        return "out of memory";
    case YOLO_ERR_LIMIT:
        return "limit exceeded";
    case YOLO_ERR_USAGE:
        return "usage error";
    case YOLO_ERR_NOTFOUND:
        return "not found";
    case YOLO_ERR_TORCH:
        return "libtorch error";
    case YOLO_ERR_LOCKED:
        return "locked";
    }
    return "unknown status";
}

yolo_status yolo_error(yolo_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* One line, always: a newline inside a message would break the one-line error contract. */
    for (char *p = last_error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

yolo_status yolo_nomem(void) {
    return yolo_error(YOLO_ERR_NOMEM, "out of memory");
}

const char *yolo_last_error(void) {
    return last_error;
}

yolo_status yolo_error_prefix(yolo_status status, const char *prefix) {
    char old[sizeof last_error];
    memcpy(old, last_error, sizeof old);
    return yolo_error(status, "%s: %s", prefix, old);
}

int yolo_report(const char *tool, yolo_status status) {
    if (status == YOLO_OK) return YOLO_EXIT_OK;
    const char *msg = last_error[0] ? last_error : yolo_status_to_string(status);
    fprintf(stderr, "%s: %s\n", tool, msg);
    return status == YOLO_ERR_USAGE ? YOLO_EXIT_USAGE : YOLO_EXIT_FAIL;
}
