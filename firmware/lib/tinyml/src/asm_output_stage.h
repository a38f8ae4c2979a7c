/* The fast output stage in Thumb-2 assembly, shared by the CONV_2D and FULLY_CONNECTED hot
 * loops (op_conv2d_asm.h, op_fully_connected_asm.h): tinyml_output_stage_fast (op_conv.h) of
 * one accumulator, saturated to int8 and stored. Each loop keeps the stage's values and its
 * scratch in other registers, so they are parameters. */
#ifndef TINYML_ASM_OUTPUT_STAGE_H
#define TINYML_ASM_OUTPUT_STAGE_H

/* SMMLAR of `acc` by the stage's 2M - 2^32 (`multiplier`) into `high` (which may be `acc`),
 * ADD of the rounding (the output offset folded in) and SUB of `high`'s sign into `value`,
 * ASR by the stage's shift, SSAT to 8 bits, STRB to the addressing operand `to`, e.g.
 * "[r10], #1". 6 instructions. */
#define ASM_OUTPUT_BYTE(acc, multiplier, rounding, shift, high, value, to)                       \
  "smmlar " high ", " acc ", " multiplier ", " acc "\n\t"                                      \
  "add " value ", " high ", " rounding "\n\t"                                                   \
  "sub " value ", " value ", " high ", lsr #31\n\t"                                            \
  "asr " value ", " value ", " shift "\n\t"                                                     \
  "ssat " value ", #8, " value "\n\t"                                                           \
  "strb " value ", " to "\n\t"

#endif /* TINYML_ASM_OUTPUT_STAGE_H */
