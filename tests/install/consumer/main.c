/* A downstream program: links usine the way a framework would, and checks one product. */
#include <stdio.h>

#include <usine.h>

int main(void)
{
    usine_context *ctx = NULL;
    if (usine_create(&ctx, NULL) != USINE_SUCCESS) {
        fprintf(stderr, "consumer: %s\n", usine_last_error());
        return 1;
    }
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {0, 0, 0, 0};
    usine_status st = usine_gemm(ctx, USINE_F32, USINE_ROW_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2,
                                 2, 2, 1.0, a, 2, b, 2, 0.0, c, 2);
    usine_destroy(ctx);
    /* [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], exactly representable. */
    if (st != USINE_SUCCESS || c[0] != 19 || c[1] != 22 || c[2] != 43 || c[3] != 50) {
        fprintf(stderr, "consumer: wrong result (%s)\n", usine_last_error());
        return 1;
    }
    printf("consumer: usine %s ok\n", usine_version());
    return 0;
}
