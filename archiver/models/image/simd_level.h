/* The best vectorised path this CPU runs, shared by the image kernels (ar_core.c, conv_core.c):
 * 2 AVX-512 VNNI, 1 AVX2, 0 none (plain C). Chosen at run time so the wheel stays portable. */
#ifndef BBX_SIMD_LEVEL_H
#define BBX_SIMD_LEVEL_H

static inline int simd_level(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vnni"))
        return 2;
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

#endif
