#include "cpu_isa.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0 says which register states the OS saves on a context switch: a CPU with AVX-512
 * under an OS (or hypervisor) that does not save zmm state must not run zmm code. */
static unsigned long long read_xcr0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static usine_cpu_isa detect(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return USINE_ISA_GENERIC;
    const int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    const int has_f16c = (ecx >> 29) & 1; /* half conversions: every AVX2 CPU has them */
    if (!has_osxsave || !has_avx || !has_fma || !has_f16c)
        return USINE_ISA_GENERIC;
    const unsigned long long xcr0 = read_xcr0();
    const int os_ymm = (xcr0 & 0x6) == 0x6;   /* SSE + AVX state */
    const int os_zmm = (xcr0 & 0xe6) == 0xe6; /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!os_ymm || __get_cpuid_max(0, NULL) < 7)
        return USINE_ISA_GENERIC;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const int has_avx2 = (ebx >> 5) & 1;
    if (!has_avx2)
        return USINE_ISA_GENERIC;
    const int f = (ebx >> 16) & 1, dq = (ebx >> 17) & 1, bw = (ebx >> 30) & 1, vl = (ebx >> 31) & 1;
    if (!(os_zmm && f && dq && bw && vl))
        return USINE_ISA_AVX2;
    if (!((ecx >> 11) & 1)) /* AVX512_VNNI */
        return USINE_ISA_AVX512;
    /* AVX512_BF16 is in leaf 7 subleaf 1 (every CPU with it also has VNNI). */
    if (eax < 1)
        return USINE_ISA_AVX512_VNNI;
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    return (eax >> 5) & 1 ? USINE_ISA_AVX512_BF16 : USINE_ISA_AVX512_VNNI;
}
/* Brand string from the extended leaves, leading blanks dropped. */
static void read_brand(char *out, size_t size)
{
    unsigned int regs[12] = {0};
    if (__get_cpuid_max(0x80000000, NULL) < 0x80000004)
        return;
    for (unsigned int leaf = 0; leaf < 3; leaf++)
        __get_cpuid(0x80000002 + leaf, &regs[4 * leaf], &regs[4 * leaf + 1], &regs[4 * leaf + 2],
                    &regs[4 * leaf + 3]);
    char brand[49];
    memcpy(brand, regs, 48);
    brand[48] = '\0';
    const char *p = brand;
    while (*p == ' ')
        p++;
    snprintf(out, size, "%s", p);
}

void usine_cpu_identify(usine_cpu_identity *id)
{
    memset(id, 0, sizeof *id);
    snprintf(id->arch, sizeof id->arch, "%s", sizeof(void *) == 8 ? "x86_64" : "x86");
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
        return;
    memcpy(id->vendor, &ebx, 4);
    memcpy(id->vendor + 4, &edx, 4);
    memcpy(id->vendor + 8, &ecx, 4);
    id->vendor[12] = '\0';
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        /* Family and model with their extended fields, as the vendors define them. */
        const int base_family = (int)((eax >> 8) & 0xf), base_model = (int)((eax >> 4) & 0xf);
        id->family = base_family == 0xf ? base_family + (int)((eax >> 20) & 0xff) : base_family;
        id->model = base_family == 0x6 || base_family == 0xf
                        ? base_model + (int)(((eax >> 16) & 0xf) << 4)
                        : base_model;
        id->stepping = (int)(eax & 0xf);
    }
    read_brand(id->brand, sizeof id->brand);
}
#else
static usine_cpu_isa detect(void)
{
    return USINE_ISA_GENERIC;
}

void usine_cpu_identify(usine_cpu_identity *id)
{
    memset(id, 0, sizeof *id);
    snprintf(id->arch, sizeof id->arch, "unknown");
}
#endif

usine_cpu_isa usine_cpu_isa_detect(void)
{
    /* cpuid is cheap and the answer never changes: racing threads store the same value. */
    static _Atomic int cached = -1;
    if (cached < 0)
        cached = (int)detect();
    return (usine_cpu_isa)cached;
}

static const char *const isa_names[USINE_ISA_COUNT] = {"generic", "avx2", "avx512", "avx512vnni",
                                                       "avx512bf16"};

const char *usine_cpu_isa_names(void)
{
    return "generic, avx2, avx512, avx512vnni, avx512bf16";
}

const char *usine_cpu_isa_name(usine_cpu_isa isa)
{
    return (unsigned)isa < USINE_ISA_COUNT ? isa_names[isa] : "unknown";
}

int usine_cpu_isa_from_name(const char *name)
{
    for (int i = 0; i < USINE_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0)
            return i;
    return -1;
}
