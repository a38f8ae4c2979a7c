/* DEPTHWISE_CONV_2D (tinyml_depthwise_conv2d_s8): includes the variant this build compiles,
 * which defines the kernel (kernel_variant.h says which, and why the variants are headers).
 * Each is a file of its own:
 *   op_depthwise_conv2d_portable.h  the reference loops;
 *   op_depthwise_conv2d_dsp.h       multiplier 1: taps paired for SMLAD over the converter's
 *                                   packed filter; else per-lane SMLABB/SMLATT over a
 *                                   clipped window, the output_stage table;
 *   op_depthwise_conv2d_asm.h       the DSP variant's hot loops in Thumb-2 assembly. */
#include "kernel_variant.h"

#if defined(TINYML_USE_DSP)
#include "op_depthwise_conv2d_dsp.h"
#else
#include "op_depthwise_conv2d_portable.h"
#endif
