/* Convolutions through the oneDNN that libtorch itself uses, on activations kept in oneDNN's blocked
 * layout (private to lib/; used by lib/torch_blocked.cpp).
 *
 * Why: libtorch 1.13 runs every CPU convolution in oneDNN, which works on channel blocks of 16
 * (nChw16c) and so converts each NCHW input, gradient and output on the way in and out: about 9
 * conversions per layer and step, a fifth of a training step at 1 thread. Calling the same oneDNN
 * primitives, made from the same descriptors, on data that stays blocked gives bit-identical results
 * without those copies.
 *
 * A blocked activation of N images, C channels and HxW pixels holds, per image, C/16 planes of HxW
 * pixels of 16 consecutive channels: float[N][C/16][H][W][16], C a multiple of 16.
 *
 * oneDNN is reached through its C API (oneapi/dnnl/dnnl.h of libdnnl-dev, the version of the libdnnl2
 * that libtorch loads). It is used only when libtorch has already loaded libdnnl.so.2 (so both compute
 * with one library), that library is the version of the headers and it lays out nChw16c as above;
 * otherwise dnnl_available() is false and callers keep libtorch's own convolution. Where a primitive prefers
 * another layout for some argument, that argument is reordered around the call, as libtorch would. */
#ifndef YOLO_DNNL_CONV_H
#define YOLO_DNNL_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/status.h"

#define DNNL_BLOCK 16

/* One convolution (square kernel k, stride, symmetric padding, no dilation or groups). The input
 * is plain NCHW when src_plain, else blocked; the output and its gradient are blocked, or plain NCHW
 * when dst_plain (then oc need not be a multiple of 16). threads: the OpenMP threads it will run on. */
typedef struct {
    int64_t n, ic, oc, ih, iw, k, stride, pad;
    int64_t threads; /* oneDNN splits the work when it makes a primitive: results depend on it */
    bool bias, src_plain, dst_plain;
} dnnl_conv_shape;

typedef struct dnnl_conv dnnl_conv;

bool dnnl_available(void);
/* The primitives of one shape: made on first use, then kept for the process, as libtorch keeps its own. */
yolo_status dnnl_conv_get(const dnnl_conv_shape *s, dnnl_conv **out);
void dnnl_conv_out_hw(const dnnl_conv *c, int64_t *oh, int64_t *ow);

/* weights plain OIHW; bias (oc values) when the shape has one */
yolo_status dnnl_conv_forward(dnnl_conv *c, const float *src, const float *weights, const float *bias,
                              float *dst);
/* diff_src in the source's layout */
yolo_status dnnl_conv_backward_data(dnnl_conv *c, const float *diff_dst, const float *weights,
                                    float *diff_src);
/* diff_weights plain OIHW; diff_bias when the shape has a bias */
yolo_status dnnl_conv_backward_weights(dnnl_conv *c, const float *src, const float *diff_dst,
                                       float *diff_weights, float *diff_bias);

#endif
