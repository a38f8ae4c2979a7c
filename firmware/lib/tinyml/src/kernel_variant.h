/* Which variant of the CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels this build
 * compiles, decided here once (internal to the core). Each kernel's op_*.c is a small wrapper
 * that includes one variant, which defines the kernel's entry point; each variant is a header
 * of its own beside it:
 *   op_*_portable.h  plain C, bit-exact with TFLM's reference kernels (TINYML_USE_DSP unset);
 *   op_*_dsp.h       C with dsp.h's SIMD helpers (TINYML_USE_DSP: an M4-class Arm target, or
 *                    -DTINYML_EMULATE_DSP on the host);
 *   op_*_asm.h       the DSP variant's hot loop in GCC Thumb-2 assembly (TINYML_KERNEL_ASM),
 *                    included by op_*_dsp.h in place of its C twin.
 * The variants are headers, not translation units of their own, so that a kernel stays one
 * translation unit with its entry point defined by the variant itself: GCC inlines and
 * allocates registers exactly as it did when the variants shared a file (the objects'
 * disassembly is unchanged), so the executed instructions stay what they were. */
#ifndef TINYML_KERNEL_VARIANT_H
#define TINYML_KERNEL_VARIANT_H

#include "tinyml/dsp.h"

/* Thumb-2 (Cortex-M: its LDRD/STRD take any two registers) with GNU inline assembly, on the
 * real instructions rather than dsp.h's host emulation. */
#if defined(TINYML_USE_DSP) && !defined(TINYML_DSP_EMULATED) && defined(__GNUC__) && \
    defined(__thumb2__)
#define TINYML_KERNEL_ASM 1
#endif

#endif /* TINYML_KERNEL_VARIANT_H */
