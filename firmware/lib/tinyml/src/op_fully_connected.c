/* FULLY_CONNECTED (tinyml_fully_connected_s8): includes the variant this build compiles, which
 * defines the kernel (kernel_variant.h says which, and why the variants are headers). Each is a
 * file of its own:
 *   op_fully_connected_portable.h  the reference loops;
 *   op_fully_connected_dsp.h       SMLAD with the input widened on the fly, the output_stage
 *                                  table;
 *   op_fully_connected_asm.h       the DSP variant's four-row loop in Thumb-2 assembly. */
#include "kernel_variant.h"

#if defined(TINYML_USE_DSP)
#include "op_fully_connected_dsp.h"
#else
#include "op_fully_connected_portable.h"
#endif
