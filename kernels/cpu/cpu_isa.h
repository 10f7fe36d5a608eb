/* x86 instruction-set levels usine has kernels for, detected at run time. */
#ifndef USINE_KERNELS_CPU_ISA_H
#define USINE_KERNELS_CPU_ISA_H

/* Ordered: a level implies every lower one. */
typedef enum usine_cpu_isa {
    USINE_ISA_GENERIC = 0,     /* portable C, any CPU */
    USINE_ISA_AVX2 = 1,        /* AVX2 + FMA3 + F16C, OS saves ymm state */
    USINE_ISA_AVX512 = 2,      /* AVX-512 F/VL/BW/DQ (x86-64-v4), OS saves zmm and opmask state */
    USINE_ISA_AVX512_VNNI = 3, /* + VNNI (vpdpbusd): Cascade Lake, Ice Lake */
    USINE_ISA_AVX512_BF16 = 4, /* + BF16 (vdpbf16ps): Cooper Lake, Sapphire Rapids, Zen 4 */
    USINE_ISA_COUNT = 5
} usine_cpu_isa;

/* Highest level this CPU and OS support (cpuid + XGETBV), computed once. */
usine_cpu_isa usine_cpu_isa_detect(void);

/* Who made the CPU and which one it is (cpuid vendor, brand string, family, model,
 * stepping): part of the machine fingerprint. Empty strings and zeros where unknown. */
typedef struct usine_cpu_identity {
    char arch[16];
    char vendor[16];
    char brand[64];
    int family, model, stepping;
} usine_cpu_identity;

void usine_cpu_identify(usine_cpu_identity *id);

/* "generic", "avx2", "avx512", "avx512vnni", "avx512bf16". */
const char *usine_cpu_isa_name(usine_cpu_isa isa);

/* Parses a name as above; returns -1 for an unknown name. */
int usine_cpu_isa_from_name(const char *name);

/* The names above, comma-separated, lowest first (for messages). */
const char *usine_cpu_isa_names(void);

#endif
