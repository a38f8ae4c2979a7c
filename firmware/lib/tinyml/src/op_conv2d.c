/* CONV_2D (tinyml_conv2d_s8): includes the variant this build compiles, which defines the
 * kernel (kernel_variant.h says which, and why the variants are headers). Each is a file of its
 * own:
 *   op_conv2d_portable.h  the reference loops;
 *   op_conv2d_dsp.h       im2col into int16 columns, SMLAD, the output_stage table;
 *   op_conv2d_asm.h       the DSP variant's filter-pair loops in Thumb-2 assembly (int8 and
 *                         widened filters, the latter also unrolled for 4 and 7 blocks), and
 *                         the whole of a 1x1 layer over 8 or 16 channels, and a convolution
 *                         into a 2x2 max pool in one pass (tinyml_conv2d_pool_s8). */
#include "kernel_variant.h"

#if defined(TINYML_USE_DSP)
#include "op_conv2d_dsp.h"
#else
#include "op_conv2d_portable.h"
#endif

#if !defined(TINYML_KERNEL_ASM)
/* Only the assembly variant has the one-pass convolution + max pool; every other build runs the
 * fused layer row by row (tinyml_run_fused). */
int tinyml_conv2d_pool_s8(const tinyml_conv2d_params *conv, const void *pool, uint8_t *arena) {
  (void)conv, (void)pool, (void)arena;
  return 0;
}
#endif
