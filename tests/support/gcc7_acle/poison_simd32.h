/* Force-included (-include) by tests/test_dsp_toolchains.py before every runtime source: the
 * ACLE SIMD32 intrinsics that dsp.h once called, and those it could reach for next, become hard
 * errors wherever they appear in compiled code, so nothing can bring them back, not even through
 * a header other than <arm_acle.h>. With TINYML_DSP_INLINE_ASM (the path GCC 7 takes, which has
 * no builtins either) the GCC 10+ builtins behind them are poisoned too. */
#pragma GCC poison __sxtb16 __sxtab16 __smlad __smladx __smlabb __smlabt __smlatb __smlatt
#pragma GCC poison __smlawb __smlawt __smuad __smusd __qadd __qsub __ssat __usat
#pragma GCC poison __ssub8 __sadd8 __usub8 __uadd8 __sel __qadd8 __qsub8 __qadd16 __qsub16
#if defined(TINYML_DSP_INLINE_ASM)
#pragma GCC poison __builtin_arm_sxtb16 __builtin_arm_sxtab16 __builtin_arm_smlad
#pragma GCC poison __builtin_arm_smlabb __builtin_arm_smlatb __builtin_arm_smlatt
#pragma GCC poison __builtin_arm_ssat __builtin_arm_ssub8 __builtin_arm_sel
#endif
