/* Shared setup of the attention tests: see attention_cases.h. */
#include "attention_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

usine_context *attn_start(const char *name, int *heavy)
{
    usine_context *ctx = test_context_or_skip(name);
    printf("%s: seed %llu\n", name, (unsigned long long)test_seed());
    const char *env = getenv("USINE_TEST_HEAVY");
    *heavy = env && *env == '1';
    return ctx;
}

static float bf16_value(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Truncation, not rounding: the tests only need some bf16 value, and the sentinels are exact. */
static uint16_t bf16_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (uint16_t)(bits >> 16);
}

static void put(const attn_case *c, void *x, int64_t i, float f)
{
    if (c->dtype == USINE_BF16)
        ((uint16_t *)x)[i] = bf16_bits(f);
    else
        ((float *)x)[i] = f;
}

double attn_get(const attn_case *c, const void *x, int64_t i)
{
    return c->dtype == USINE_BF16 ? bf16_value(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

size_t attn_esize(const attn_case *c)
{
    return c->dtype == USINE_BF16 ? 2 : 4;
}

attn_case attn_gqa_case(int64_t sq, int64_t sk)
{
    attn_case c = attn_base_case(64);
    c.batch = 2;
    c.hq = 4;
    c.hkv = 2;
    c.sq = sq;
    c.sk = sk;
    return c;
}

attn_case attn_mqa_varlen_case(int64_t d, int64_t max_q, int64_t max_k)
{
    attn_case c = attn_base_case(d);
    c.batch = 4;
    c.hq = 6;
    c.hkv = 1;
    c.causal = 1;
    attn_varlen_with_gaps(&c, max_q, max_k);
    return c;
}

/* Strides of a [nb, heads, npos, d] tensor stored BSHD or BHSD with `pad` extra elements per
 * position (BHSD) or per position of all heads (BSHD). */
static void strides_for(const attn_case *c, int64_t heads, int64_t npos, int64_t s[3])
{
    if (c->bshd) {
        s[1] = c->d + c->pad;
        s[2] = heads * s[1];
        s[0] = npos * s[2];
    } else {
        s[2] = c->d + c->pad;
        s[1] = npos * s[2];
        s[0] = heads * s[1];
    }
}

test_buffer attn_make_buffer(const attn_case *c, int64_t elements, float fill)
{
    test_buffer b = test_buffer_alloc((size_t)elements * attn_esize(c));
    for (int64_t i = 0; i < elements; i++)
        put(c, b.data, i, fill);
    return b;
}

void attn_fill_rows(const attn_case *c, void *x, int64_t nb, int64_t heads, int64_t npos,
                    const int64_t s[3])
{
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < npos; i++)
                for (int64_t e = 0; e < c->d; e++)
                    put(c, x, b * s[0] + h * s[1] + i * s[2] + e, (float)test_rand_uniform(-1, 1));
}

/* The descriptor of a case; sets the position counts (one batch item of all sequences in
 * varlen). */
static void make_desc(const attn_case *c, attn_tensors *t)
{
    usine_attention_desc *d = &t->desc;
    usine_attention_desc_init(d);
    d->dtype = c->dtype;
    d->batch = c->batch;
    d->heads_q = c->hq;
    d->heads_kv = c->hkv;
    d->seq_q = c->sq;
    d->seq_k = c->sk;
    d->head_dim = c->d;
    d->scale = c->scale;
    d->causal = c->causal;
    d->window = c->window;
    t->nb = c->batch;
    t->nq_pos = c->sq;
    t->nk_pos = c->sk;
    if (c->varlen) {
        d->cu_seqlens_q = c->cu_q;
        d->cu_seqlens_k = c->cu_k;
        t->nb = 1;
        t->nq_pos = c->cu_q[c->batch];
        t->nk_pos = c->cu_k[c->batch];
    }
    strides_for(c, c->hq, t->nq_pos, d->q_strides);
    strides_for(c, c->hkv, t->nk_pos, d->k_strides);
    strides_for(c, c->hkv, t->nk_pos, d->v_strides);
    strides_for(c, c->hq, t->nq_pos, d->o_strides);
}

void attn_make_tensors(const attn_case *c, attn_tensors *t, float out_fill)
{
    make_desc(c, t);
    const usine_attention_desc *d = &t->desc;
    /* one element past the last row: a write past the end changes it */
    t->nq_el = t->nb * d->q_strides[0] + 1;
    t->nk_el = t->nb * d->k_strides[0] + 1;
    t->nl = t->nb * c->hq * t->nq_pos + 1;
    t->q = attn_make_buffer(c, t->nq_el, NAN);
    t->k = attn_make_buffer(c, t->nk_el, NAN);
    t->v = attn_make_buffer(c, t->nk_el, NAN);
    attn_fill_rows(c, t->q.data, t->nb, c->hq, t->nq_pos, d->q_strides);
    attn_fill_rows(c, t->k.data, t->nb, c->hkv, t->nk_pos, d->k_strides);
    attn_fill_rows(c, t->v.data, t->nb, c->hkv, t->nk_pos, d->v_strides);
    t->o = attn_make_buffer(c, t->nq_el, out_fill);
    t->lse = test_buffer_alloc((size_t)t->nl * sizeof(float));
    for (int64_t i = 0; i < t->nl; i++)
        ((float *)t->lse.data)[i] = out_fill;
}

void attn_free_tensors(attn_tensors *t)
{
    test_buffer *all[5] = {&t->q, &t->k, &t->v, &t->o, &t->lse};
    for (int i = 0; i < 5; i++)
        test_buffer_free(all[i]);
}

usine_status attn_forward(usine_context *ctx, attn_tensors *t)
{
    return usine_attention_forward(ctx, &t->desc, t->q.data, t->k.data, t->v.data, t->o.data,
                                   (float *)t->lse.data);
}

void attn_describe(const attn_case *c, const char *prefix, char *text, size_t size)
{
    snprintf(text, size,
             "%s%s b=%lld hq=%lld hkv=%lld sq=%lld sk=%lld d=%lld %s pad=%lld causal=%d "
             "window=%lld scale=%g varlen=%d",
             prefix, c->dtype == USINE_BF16 ? "bf16" : "f32", (long long)c->batch, (long long)c->hq,
             (long long)c->hkv, (long long)c->sq, (long long)c->sk, (long long)c->d,
             c->bshd ? "BSHD" : "BHSD", (long long)c->pad, c->causal, (long long)c->window,
             c->scale, c->varlen);
}

attn_case attn_base_case(int64_t d)
{
    attn_case c;
    memset(&c, 0, sizeof c);
    c.dtype = USINE_F32;
    c.batch = 1;
    c.hq = c.hkv = 1;
    c.sq = c.sk = 1;
    c.d = d;
    return c;
}

/* seq_q and seq_k: the longest sequences of the varlen offsets. */
static void longest_sequences(attn_case *c)
{
    c->sq = c->sk = 0;
    for (int64_t b = 0; b < c->batch; b++) {
        if (c->cu_q[b + 1] - c->cu_q[b] > c->sq)
            c->sq = c->cu_q[b + 1] - c->cu_q[b];
        if (c->cu_k[b + 1] - c->cu_k[b] > c->sk)
            c->sk = c->cu_k[b + 1] - c->cu_k[b];
    }
}

void attn_random_varlen(attn_case *c, int64_t max_q, int64_t max_k)
{
    c->varlen = 1;
    c->cu_q[0] = (int32_t)test_rand_int(0, 3);
    c->cu_k[0] = (int32_t)test_rand_int(0, 3);
    for (int64_t b = 0; b < c->batch; b++) {
        const int64_t lq = test_rand_int(0, max_q), lk = test_rand_int(0, max_k);
        c->cu_q[b + 1] = c->cu_q[b] + (int32_t)lq;
        c->cu_k[b + 1] = c->cu_k[b] + (int32_t)lk;
    }
    longest_sequences(c);
}

void attn_varlen_with_gaps(attn_case *c, int64_t max_q, int64_t max_k)
{
    attn_random_varlen(c, max_q, max_k);
    c->cu_q[2] = c->cu_q[1]; /* an empty query sequence */
    c->cu_k[3] = c->cu_k[2]; /* and an empty key sequence */
    /* the offsets after the gaps must stay non-decreasing */
    for (int64_t b = 2; b <= c->batch; b++) {
        if (c->cu_q[b] < c->cu_q[b - 1])
            c->cu_q[b] = c->cu_q[b - 1];
        if (c->cu_k[b] < c->cu_k[b - 1])
            c->cu_k[b] = c->cu_k[b - 1];
    }
    longest_sequences(c);
}

/* Every option at random: batch, GQA ratio, lengths, layout, padding, masks, scale, dtype,
 * varlen. The draws keep their order so that a seed reproduces the same cases. */
static attn_case random_case(int64_t d)
{
    attn_case c = attn_base_case(d);
    c.batch = test_rand_int(1, 3);
    c.hkv = test_rand_int(1, 2);
    c.hq = c.hkv * test_rand_int(1, 3);
    c.sq = test_rand_int(1, 100);
    c.sk = test_rand_int(1, 160);
    c.bshd = (int)test_rand_int(0, 1);
    c.pad = test_rand_int(0, 1) * test_rand_int(1, 17);
    c.causal = (int)test_rand_int(0, 1);
    c.window = test_rand_int(0, 2) == 0 ? test_rand_int(1, 70) : 0;
    c.scale = test_rand_int(0, 2) == 0 ? test_rand_uniform(0.05, 1.0) : 0.0;
    c.dtype = test_rand_int(0, 3) == 0 ? USINE_BF16 : USINE_F32;
    if (test_rand_int(0, 3) == 0)
        attn_random_varlen(&c, 90, 150);
    return c;
}

void attn_for_each_shape(usine_context *ctx, int rounds, attn_runner *run)
{
    static const int64_t dims[] = {16, 32, 64, 80, 96, 128, 256};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        attn_case c = attn_base_case(dims[di]);
        c.batch = 2;
        c.hq = 2;
        c.hkv = 1;
        c.sq = 61;
        c.sk = 130;
        run(ctx, &c);
        for (int r = 0; r < rounds; r++) {
            c = random_case(dims[di]);
            run(ctx, &c);
        }
    }
}

void attn_for_each_mask(usine_context *ctx, const int64_t (*shapes)[2], size_t count, int64_t d,
                        attn_runner *run)
{
    for (size_t s = 0; s < count; s++)
        for (int mode = 0; mode < 4; mode++) {
            attn_case c = attn_base_case(d);
            c.hq = 4;
            c.hkv = 2;
            c.sq = shapes[s][0];
            c.sk = shapes[s][1];
            c.bshd = (int)(s & 1);
            c.causal = mode != 2;
            c.window = mode >= 2 ? 1 + (int64_t)s * 13 : 0;
            if (mode == 3)
                c.window = 1; /* each query sees its diagonal key only */
            run(ctx, &c);
        }
}

attn_saved attn_save(test_buffer *const *buf, int count)
{
    attn_saved s;
    memset(&s, 0, sizeof s);
    s.count = count;
    for (int a = 0; a < count; a++) {
        s.buf[a] = buf[a];
        s.copy[a] = malloc(buf[a]->bytes);
        memcpy(s.copy[a], buf[a]->data, buf[a]->bytes);
    }
    return s;
}

void attn_expect_rejected(attn_saved *s, usine_status st, usine_status want, const char *needle,
                          const char *function)
{
    const char *message = usine_last_error();
    CHECK(st == want, "error case '%s': status %d, want %d (%s)", needle, (int)st, (int)want,
          message);
    CHECK(strstr(message, needle) != NULL && (!function || strstr(message, function) != NULL),
          "error case '%s': message '%s'", needle, message);
    for (int a = 0; a < s->count; a++) {
        const test_buffer *b = s->buf[a];
        CHECK(memcmp(s->copy[a], b->data, b->bytes) == 0 && test_buffer_guards_ok(b),
              "error case '%s': output %d or its guard zone was written", needle, a);
        free(s->copy[a]);
    }
}
