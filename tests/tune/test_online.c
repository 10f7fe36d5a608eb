/*
 * USINE_TUNE=online: the first call of an unseen shape class tunes it (within a small
 * budget), the result is used by the next call and saved in the user database; results
 * stay correct throughout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "../../autotune/db.h"
#include "../../core/context.h"

int main(void)
{
    char db[256];
    snprintf(db, sizeof db, "/tmp/usine_test_online.%ld.db", (long)getpid());
    setenv("USINE_TUNE_DB", db, 1);
    setenv("USINE_TUNE", "online", 1);
    usine_context *ctx = test_context_or_skip("test_online");
    const int64_t m = 150, n = 130, k = 90;
    test_buffer a = test_buffer_alloc(sizeof(float) * m * k),
                b = test_buffer_alloc(sizeof(float) * k * n);
    test_buffer c = test_buffer_alloc(sizeof(float) * m * n),
                c0 = test_buffer_alloc(sizeof(float) * m * n);
    test_fill_matrix(USINE_F32, USINE_COL_MAJOR, m, k, a.data, m, 0);
    test_fill_matrix(USINE_F32, USINE_COL_MAJOR, k, n, b.data, k, 0);
    test_fill_matrix(USINE_F32, USINE_COL_MAJOR, m, n, c.data, m, 0);
    memcpy(c0.data, c.data, c.bytes);

    usine_gemm_choice before;
    usine_select_gemm(&ctx->selector, USINE_F32, m, n, k, ctx->num_threads, &before);
    CHECK(before.rule_id == USINE_RULE_MODEL, "an unseen class starts with the model: '%s'",
          before.rule);
    CHECK(usine_gemm(ctx, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, m, n, k, 1.0,
                     a.data, m, b.data, k, 0.5, c.data, m) == USINE_SUCCESS,
          "first call: %s", usine_last_error());
    CHECK(test_check_gemm(USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, m, n, k, 1.0,
                          a.data, m, b.data, k, 0.5, c0.data, c.data, m, 0, "online") == 0,
          "the tuning call's result is right");
    usine_gemm_choice after;
    usine_select_gemm(&ctx->selector, USINE_F32, m, n, k, ctx->num_threads, &after);
    CHECK(after.rule_id == USINE_RULE_EXACT, "the next call uses the tuned entry: '%s'",
          after.rule);
    usine_tune_table t = {0};
    size_t skipped = 0;
    CHECK(usine_db_read(db, NULL, NULL, &t, &skipped) == 0 && t.count == 1,
          "the entry is saved in the user database (%zu entries)", t.count);
    usine_tune_table_free(&t);
    usine_destroy(ctx);
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
    unlink(db);
    char lock[300];
    snprintf(lock, sizeof lock, "%s.lock", db);
    unlink(lock);
    return test_finish("test_online");
}
