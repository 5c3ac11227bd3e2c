/* Status codes and the last-error message shared by every module.
 *
 * Every fallible library call returns a yolo_status. On failure it also leaves a one-line,
 * human-readable message (what is wrong, with which file, and a hint) for yolo_last_error().
 * The message is per thread. */
#ifndef YOLO_STATUS_H
#define YOLO_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    YOLO_OK = 0,
    YOLO_ERR_IO,       /* open/read/write/fsync/rename failed (errno text in the message) */
    YOLO_ERR_FORMAT,   /* the input is malformed, truncated or not what was expected */
    YOLO_ERR_CRC,      /* a checksum does not match: the file is damaged */
    YOLO_ERR_NOMEM,    /* out of memory */
    YOLO_ERR_LIMIT,    /* a safety bound was hit (hostile or absurd input) */
    YOLO_ERR_USAGE,    /* bad arguments from the caller or the user */
    YOLO_ERR_NOTFOUND, /* a key, file or name does not exist */
    YOLO_ERR_TORCH,    /* libtorch reported an error */
    YOLO_ERR_LOCKED,   /* another process holds the lock */
} yolo_status;

const char *yolo_status_to_string(yolo_status status);

/* Sets the calling thread's last error message (printf-style) and returns status. */
yolo_status yolo_error(yolo_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* yolo_error(YOLO_ERR_NOMEM, "out of memory"). */
yolo_status yolo_nomem(void);

/* The calling thread's last error message ("" if none). */
const char *yolo_last_error(void);

/* Prefixes the last error with "prefix: " (for adding a file name on the way up). Returns status. */
yolo_status yolo_error_prefix(yolo_status status, const char *prefix);

/* The one error-propagation macro: x (a call returning yolo_status) goes into the caller's
 * `yolo_status st`; on failure it jumps to the caller's `done:` label, which cleans up and returns st. */
#define YOLO_TRY(x)                                                                                          \
    do {                                                                                                     \
        st = (x);                                                                                            \
        if (st != YOLO_OK) goto done;                                                                        \
    } while (0)

/* Tools: exit codes. 0 success, 1 the work failed, 2 usage error. */
enum { YOLO_EXIT_OK = 0, YOLO_EXIT_FAIL = 1, YOLO_EXIT_USAGE = 2 };

/* Tools: prints "tool: message" to stderr as one line and returns the exit code for status. */
int yolo_report(const char *tool, yolo_status status);

#ifdef __cplusplus
}
#endif
#endif
