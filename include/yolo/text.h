/* Small string helpers shared by modules. */
#ifndef YOLO_TEXT_H
#define YOLO_TEXT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether s ends with suffix ("last.pt", ".pt"). */
bool text_ends_with(const char *s, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
