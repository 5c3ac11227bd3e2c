/* Knobs of letterbox.c for tests and experiments only. */
#ifndef YOLO_LETTERBOX_INTERNAL_H
#define YOLO_LETTERBOX_INTERNAL_H
/* Vector width in bytes of the OpenCV build being emulated (16: SSE baseline); 0 = scalar rounding only. */
extern int letterbox_simd_bytes;
#endif
