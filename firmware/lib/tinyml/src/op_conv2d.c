/* CONV_2D (tinyml_conv2d_s8): includes the variant this build compiles, which defines the
 * kernel (kernel_variant.h says which, and why the variants are headers). Each is a file of its
 * own:
 *   op_conv2d_portable.h  the reference loops;
 *   op_conv2d_dsp.h       im2col into int16 columns, SMLAD, the output_stage table;
 *   op_conv2d_asm.h       the DSP variant's filter-pair loops in Thumb-2 assembly (int8 and
 *                         widened filters, the latter also unrolled for 4 and 7 blocks), and
 *                         the whole of a 1x1 layer over 8 channels (the packed stream). */
#include "kernel_variant.h"

#if defined(TINYML_USE_DSP)
#include "op_conv2d_dsp.h"
#else
#include "op_conv2d_portable.h"
#endif
