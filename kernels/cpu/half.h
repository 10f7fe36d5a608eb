/* Conversions between f32 and the 16-bit floats (bf16, f16) shared by the CPU kernels. */
#ifndef USINE_KERNELS_CPU_HALF_H
#define USINE_KERNELS_CPU_HALF_H

#include <stdint.h>
#include <string.h>

/* bf16 -> f32 is exact: the top 16 bits of the f32. */
static inline float usine_bf16_to_f32(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* f32 -> bf16, round to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t usine_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float usine_f16_to_f32(uint16_t h)
{
    _Float16 x;
    memcpy(&x, &h, sizeof x);
    return (float)x;
}

/* f32 -> f16, round to nearest even (the hardware's or libgcc's conversion). */
static inline uint16_t usine_f32_to_f16(float f)
{
    const _Float16 x = (_Float16)f;
    uint16_t h;
    memcpy(&h, &x, sizeof h);
    return h;
}

#endif
