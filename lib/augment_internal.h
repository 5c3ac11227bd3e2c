/* Knobs of augment.c for tests and experiments only. */
#ifndef YOLO_AUGMENT_INTERNAL_H
#define YOLO_AUGMENT_INTERNAL_H
/* Pixels per vector block of OpenCV's 8-bit HSV->BGR (32 with the AVX2 dispatch, 16 with SSE, 0 for its
 * scalar code only). The vector path truncates to 8 bits where the scalar path rounds. */
extern int augment_hsv_simd_pixels;
#endif
