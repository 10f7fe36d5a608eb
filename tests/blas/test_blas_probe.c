/*
 * Exits 77 (ctest: skipped) with a SKIP line when the USINE_* environment asks for an ISA
 * this CPU lacks, 0 otherwise: run_blat3.sh and run_numpy.sh call it first, so that the
 * ISA x threads matrix skips where test_blas skips instead of running on a fallback.
 */
#include "test_util.h"

int main(void)
{
    usine_destroy(test_context_or_skip("blas (reference tester)"));
    return 0;
}
