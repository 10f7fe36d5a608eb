/*
 * usine: hand-optimised GEMM, attention and convolution kernels, chosen at run time.
 *
 * The public C API. Every call returns a usine_status; on failure
 * usine_last_error() returns a message naming the offending argument.
 *
 * Conventions:
 *   - sizes, leading dimensions and strides are int64_t (element counts, not bytes);
 *   - matrices are row-major or column-major (usine_layout), as in CBLAS;
 *   - the caller owns every buffer; usine never keeps a pointer after a call returns;
 *   - output buffers must not overlap input buffers (checked where it is cheap).
 */
#ifndef USINE_H
#define USINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(USINE_STATIC_DEFINE)
#define USINE_API
#elif defined(__GNUC__)
#define USINE_API __attribute__((visibility("default")))
#else
#define USINE_API
#endif

#define USINE_VERSION_MAJOR 0
#define USINE_VERSION_MINOR 1
#define USINE_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH" (the one linked, not the header's). */
USINE_API const char *usine_version(void);

/* ---------------------------------------------------------------- status */

typedef enum usine_status {
    USINE_SUCCESS = 0,
    USINE_ERROR_INVALID_ARGUMENT = 1, /* null pointer, negative size, bad enum, small ld */
    USINE_ERROR_OVERFLOW = 2,         /* a size whose byte extent does not fit in memory */
    USINE_ERROR_NOT_SUPPORTED = 3,    /* dtype, device or combination not implemented */
    USINE_ERROR_OUT_OF_MEMORY = 4,    /* a workspace allocation failed */
    USINE_ERROR_DEVICE = 5,           /* device absent or its runtime reported an error */
    USINE_ERROR_INTERNAL = 6          /* a bug in usine: please report it */
} usine_status;

/* A static English description of a status code ("unknown status" for others). */
USINE_API const char *usine_status_string(usine_status status);

/*
 * The message of the last failed call made by this thread, naming the function and the
 * offending argument, e.g. "usine_gemm: lda = 3 is less than max(1, k) = 5". The empty
 * string if no call failed yet. Valid until this thread's next usine call.
 */
USINE_API const char *usine_last_error(void);

/* ---------------------------------------------------------------- enums */

typedef enum usine_dtype {
    USINE_F32 = 0,
    USINE_F64 = 1,
    USINE_BF16 = 2, /* bfloat16: 8-bit exponent, 7-bit mantissa (usine_gemm_ex) */
    USINE_F16 = 3,  /* IEEE half (usine_gemm_ex) */
    USINE_S8 = 4,   /* signed 8-bit integers (usine_gemm_ex) */
    USINE_U8 = 5,   /* unsigned 8-bit integers (usine_gemm_ex) */
    USINE_S32 = 6   /* 32-bit integers: int8 products' output (usine_gemm_ex) */
} usine_dtype;

/* Values match CBLAS's CblasRowMajor / CblasColMajor and CblasNoTrans / CblasTrans. */
typedef enum usine_layout { USINE_ROW_MAJOR = 101, USINE_COL_MAJOR = 102 } usine_layout;

typedef enum usine_transpose { USINE_NO_TRANS = 111, USINE_TRANS = 112 } usine_transpose;

/* ---------------------------------------------------------------- context */

typedef struct usine_context usine_context;

typedef struct usine_context_options {
    /* sizeof(usine_context_options) as the caller compiled it: lets later versions add
     * fields without breaking callers. usine_context_options_init() sets it. */
    size_t struct_size;
    /* Threads for each call: 0 = default (USINE_NUM_THREADS, else OpenMP's
     * omp_get_max_threads()). A call made from inside an OpenMP parallel region runs on
     * one thread whatever this says, so that usine never oversubscribes the cores. */
    int num_threads;
    /* Device: "cpu", "cuda" (= "cuda:0") or "cuda:N"; NULL: USINE_DEVICE if set, else the
     * CPU. A CUDA context's calls take device pointers (the caller allocates them, as for
     * every buffer) and are asynchronous on `stream`. usine_create fails with
     * USINE_ERROR_NOT_SUPPORTED when the library was built without CUDA, and with
     * USINE_ERROR_DEVICE (the CUDA error in usine_last_error()) when there is no driver or
     * no such GPU; it never crashes, and CPU contexts keep working. */
    const char *device;
    /* CUDA: the cudaStream_t every call is queued on; NULL: the default stream. */
    void *stream;
} usine_context_options;

/* Fills *options with the defaults and sets struct_size. */
USINE_API usine_status usine_context_options_init(usine_context_options *options);

/* Creates a context; options may be NULL for the defaults. *context is NULL on failure. */
USINE_API usine_status usine_create(usine_context **context, const usine_context_options *options);

/* Destroys a context (NULL is accepted and ignored). */
USINE_API usine_status usine_destroy(usine_context *context);

/* Thread count used by the context's calls (the resolved value, never 0). */
USINE_API usine_status usine_get_num_threads(const usine_context *context, int *num_threads);

/* Changes the thread count: 0 returns to the default; negative is an error. */
USINE_API usine_status usine_set_num_threads(usine_context *context, int num_threads);

/* ---------------------------------------------------------------- GEMM */

/*
 * C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T, C of size m x n,
 * op(A) m x k, op(B) k x n, BLAS semantics:
 *   - dtype is USINE_F32 (float buffers) or USINE_F64 (double buffers); alpha and beta
 *     are passed as double and rounded to the dtype;
 *   - beta == 0: C is written, never read (NaN or Inf already in C does not leak);
 *   - alpha == 0 or k == 0: C = beta * C, and A and B are not read;
 *   - m == 0 or n == 0: nothing is done (A, B, C may then be NULL);
 *   - leading dimensions must be >= max(1, number of columns) in row-major,
 *     >= max(1, number of rows) in column-major, of the stored (not transposed) matrix;
 *   - C must not overlap A or B.
 * Errors: USINE_ERROR_INVALID_ARGUMENT (null context or pointer, bad enum, negative size,
 * small leading dimension, overlap), USINE_ERROR_OVERFLOW (extent does not fit),
 * USINE_ERROR_NOT_SUPPORTED (dtype; on a CUDA context: f32 and f64, see usine_gemm_ex).
 * On error C is untouched.
 */
USINE_API usine_status usine_gemm(usine_context *context, usine_dtype dtype, usine_layout layout,
                                  usine_transpose trans_a, usine_transpose trans_b, int64_t m,
                                  int64_t n, int64_t k, double alpha, const void *a, int64_t lda,
                                  const void *b, int64_t ldb, double beta, void *c, int64_t ldc);

/*
 * batch_count independent GEMMs of the same shape; matrix i starts at a + i * stride_a
 * (likewise b, c; strides in elements). stride_a or stride_b may be 0 (a shared operand);
 * the C matrices must not overlap one another: stride_c must be at least the extent of
 * one C (ldc * (columns - 1) + rows in column-major). batch_count == 0 does nothing.
 * All arguments are checked before any C is written.
 */
USINE_API usine_status usine_gemm_strided_batched(
    usine_context *context, usine_dtype dtype, usine_layout layout, usine_transpose trans_a,
    usine_transpose trans_b, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
    int64_t lda, int64_t stride_a, const void *b, int64_t ldb, int64_t stride_b, double beta,
    void *c, int64_t ldc, int64_t stride_c, int64_t batch_count);

/*
 * batch_count independent GEMMs of the same shape, from arrays of pointers:
 * C[i] = alpha * op(A[i]) * op(B[i]) + beta * C[i]. Every pointer is checked (non-NULL,
 * C[i] not overlapping A[i] or B[i]) before any C is written. The C[i] must not overlap
 * one another (not checked: the caller's responsibility, as in cuBLAS).
 */
USINE_API usine_status usine_gemm_batched(usine_context *context, usine_dtype dtype,
                                          usine_layout layout, usine_transpose trans_a,
                                          usine_transpose trans_b, int64_t m, int64_t n, int64_t k,
                                          double alpha, const void *const *a, int64_t lda,
                                          const void *const *b, int64_t ldb, double beta,
                                          void *const *c, int64_t ldc, int64_t batch_count);

/* ---------------------------------------------------------------- GEMM with any dtypes */

/* Activation applied to every element of C in the epilogue. */
typedef enum usine_activation {
    USINE_ACT_NONE = 0,
    USINE_ACT_RELU = 1,      /* max(x, 0); NaN stays NaN */
    USINE_ACT_GELU_TANH = 2, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    USINE_ACT_GELU_ERF = 3   /* 0.5 x (1 + erf(x / sqrt(2))) */
} usine_activation;

/*
 * A GEMM described in full: dtypes, epilogue, batch. usine_gemm_desc_init fills the
 * defaults (f32 everywhere, column-major, no transpose, alpha 1, beta 0, no epilogue, one
 * product); set the fields that differ. Supported (a, b -> c) dtypes:
 *   f32, f32 -> f32          f64, f64 -> f64
 *   bf16, bf16 -> f32 | bf16 f16, f16 -> f32 | f16        (products and sums in f32)
 *   u8, s8 -> s32 | f32      s8, s8 -> s32 | f32           (products and sums exact in s32)
 *
 * Each element of C is, in this order:
 *   acc = sum_p (op(A)(i,p) - a_zero_point) (op(B)(p,j) - b_zero_point)   (zero points: int8)
 *   v   = alpha * scale_j * acc + beta * C(i,j) + bias[j]  (scale_j: int8 only, scales[j] or
 *                                                           scales[0]; bias: NULL or n values)
 *   v   = activation(v)
 *   C(i,j) = v converted to the C dtype: f32/f64 as is; bf16 and f16 rounded to nearest, ties
 *            to even, NaN kept NaN, f16 overflow to infinity; s32: acc (+ C when beta is 1)
 *            exactly, saturated to [INT32_MIN, INT32_MAX] when zero points take it beyond
 *            (then alpha must be 1, beta 0 or 1, and there is no bias, scale or activation);
 *            f32 from int8: scale_j * acc rounded to f32 once, then alpha, beta, bias in f32.
 * bf16 and f16 inputs are converted exactly to f32; f32 products of them are exact, sums are
 * rounded in f32 (error bound (k + 2) * 2^-24 * sum |a b|); with AVX512-BF16 the hardware adds
 * products in pairs, rounding once per pair, and treats bf16 subnormal inputs as zero. int8
 * sums are exact (computed in s32 and 64-bit compensation): k is limited to 65536.
 * beta == 0 never reads C.
 * batch_count products are made, item i at a + i * stride_a (elements), likewise b and c.
 */
typedef struct usine_gemm_desc {
    size_t struct_size; /* sizeof(usine_gemm_desc); set by usine_gemm_desc_init */
    usine_layout layout;
    usine_transpose trans_a, trans_b;
    int64_t m, n, k;
    int64_t lda, ldb, ldc;
    usine_dtype a_type, b_type, c_type;
    double alpha, beta;
    const float *bias; /* n values (one per column of C) or NULL */
    usine_activation activation;
    int32_t a_zero_point, b_zero_point; /* int8 only, in the range of their dtype */
    const float *scales;                /* int8 -> f32 only: 1 value or n (per column) */
    int64_t scale_count;                /* 0 (no scales), 1 or n */
    int64_t batch_count;                /* >= 0; 1 by default */
    int64_t stride_a, stride_b, stride_c;
} usine_gemm_desc;

USINE_API usine_status usine_gemm_desc_init(usine_gemm_desc *desc);

/* The product(s) described; a, b, c as in usine_gemm (NULL allowed where nothing is read).
 * Errors as usine_gemm's, plus USINE_ERROR_NOT_SUPPORTED for a dtype combination above that
 * usine lacks and USINE_ERROR_INVALID_ARGUMENT for an inconsistent epilogue.
 *
 * On a CUDA context (usine_context_options.device): a, b, c and bias are device pointers;
 * the call is queued on the context's stream and returns before the product is done
 * (errors of the launch are returned, errors of the kernel surface at the caller's next
 * synchronisation). Supported there: bf16 x bf16 -> f32 | bf16 and f16 x f16 -> f32 | f16
 * (tensor cores, f32 sums; on sm_80 and newer), every layout and transpose, bias and
 * activations, strided batches. Operands whose rows are 16-byte aligned (base address a
 * multiple of 16 bytes, leading dimension and batch stride multiples of 8) take the fast
 * kernels, others a slower element-wise path. USINE_ERROR_NOT_SUPPORTED for f32 (TF32 is
 * not there yet), f64, int8 and usine_gemm_ex_batched (pointer arrays); USINE_ERROR_DEVICE
 * for a CUDA error (its name and message in usine_last_error()). */
USINE_API usine_status usine_gemm_ex(usine_context *context, const usine_gemm_desc *desc,
                                     const void *a, const void *b, void *c);

/* desc->batch_count products from arrays of pointers, as usine_gemm_batched: item i is
 * a[i], b[i], c[i] (the descriptor's strides are ignored). Every pointer is checked before
 * any C is written; the C[i] must not overlap one another (not checked). */
USINE_API usine_status usine_gemm_ex_batched(usine_context *context, const usine_gemm_desc *desc,
                                             const void *const *a, const void *const *b,
                                             void *const *c);

/* ---------------------------------------------------------------- attention */

/*
 * Fused attention (FlashAttention-2 forward): per batch item b and query head h,
 *   O = softmax(Q K^T * scale + mask) V
 * with Q [batch, heads_q, seq_q, head_dim], K and V [batch, heads_kv, seq_k, head_dim] and
 * O like Q, computed tiled with an online softmax in O(seq * head_dim) memory (the scores
 * matrix is never stored). Query head h reads key/value head h / (heads_q / heads_kv)
 * (grouped-query attention; heads_kv == 1 is multi-query). usine_attention_desc_init fills
 * the defaults (f32, no mask, scale 1/sqrt(head_dim), nothing else set); set the sizes and
 * strides.
 *
 * Masks, with off = seq_k - seq_q (per sequence when the lengths vary): query i sees key j
 * when j <= i + off if causal (bottom-right aligned: the last query sees every key; with
 * seq_q > seq_k the first seq_q - seq_k queries see none), and, when window > 0, when also
 * j > i + off - window (the last `window` keys up to its own position; without causal, every
 * key after that). A query that sees no key gets O = 0 and lse = -inf (never NaN).
 *
 * Results do not depend on the thread count or on scheduling: each block of query rows is
 * computed by one thread in a fixed order, so every call is bitwise reproducible on a given
 * machine and ISA (`deterministic` is therefore always honoured, at no cost).
 *
 * On a CUDA context (tested on an H200; the sm_80 build not yet on an A100): q, k, v, o, lse, the
 * gradients and cu_seqlens are device pointers and the calls are queued on the context's
 * stream; dtype is USINE_BF16 or USINE_F16 and head_dim 64 or 128; base pointers must be
 * 16-byte aligned and strides multiples of 8 elements (others: USINE_ERROR_NOT_SUPPORTED);
 * cu_seqlens are not checked on the host (that would synchronise): each sequence's lengths
 * are clamped to seq_q and seq_k. The backward is deterministic (a separate dQ pass, no
 * atomics) and takes batch * heads_q * seq_q floats of stream-ordered memory.
 */
typedef struct usine_attention_desc {
    size_t struct_size; /* sizeof(usine_attention_desc); set by usine_attention_desc_init */
    /* Element type of Q, K, V and O: USINE_F32, or USINE_BF16 (sums in f32; O rounded to
     * bf16 to nearest, ties to even). With AVX512-BF16 the forward multiplies bf16 pairs
     * (vdpbf16ps: products exact, one rounding per pair sum, bf16 denormals read as 0) and,
     * like FlashAttention on GPUs, rounds the softmax weights P to bf16 before P V (a
     * relative error up to 2^-9 per weight); elsewhere, and in the backward, bf16 is
     * converted exactly to f32 and computed in f32. */
    usine_dtype dtype;
    int64_t batch;    /* >= 0 (0: nothing to do); with cu_seqlens, the number of sequences */
    int64_t heads_q;  /* >= 1, a multiple of heads_kv */
    int64_t heads_kv; /* >= 1 */
    int64_t seq_q;    /* >= 0 query positions (with cu_seqlens: the longest sequence) */
    int64_t seq_k;    /* >= 0 key positions (0: every O row is 0, lse -inf) */
    int64_t head_dim; /* a multiple of 16 from 16 to 256 (32, 64, 80, 96, 128, 256 ...) */
    /*
     * Strides in elements of the [batch, head, position] axes of Q, K, V and O, each >= 0;
     * the head_dim axis is contiguous (stride 1). BSHD ([batch, seq, heads, dim]) is
     * {seq * heads * dim, dim, heads * dim}, BHSD is {heads * seq * dim, seq * dim, dim};
     * padding is allowed. Distinct O elements must not share memory (checked), and O and lse
     * must not overlap Q, K or V (checked on the address ranges they span).
     */
    int64_t q_strides[3], k_strides[3], v_strides[3], o_strides[3];
    double scale;   /* multiplies Q K^T; 0: 1 / sqrt(head_dim) */
    int causal;     /* 0 or 1: the bottom-right aligned causal mask above */
    int64_t window; /* 0: none; > 0: the sliding window above; < 0 is an error */
    /*
     * Variable lengths: NULL (every sequence is seq_q x seq_k), or both set to batch + 1
     * non-decreasing offsets from cu[0] >= 0: sequence b is positions cu[b] .. cu[b+1] - 1
     * along the position axis of batch index 0 (the batch stride is then unused), with
     * cu_q[b+1] - cu_q[b] <= seq_q and cu_k[b+1] - cu_k[b] <= seq_k.
     */
    const int32_t *cu_seqlens_q, *cu_seqlens_k;
    int deterministic; /* 0 or 1: results bitwise reproducible across runs and thread
                          counts; always the case (see above) */
} usine_attention_desc;

USINE_API usine_status usine_attention_desc_init(usine_attention_desc *desc);

/*
 * The forward described: q, k, v and o as the descriptor says; lse is NULL or f32
 * [batch, heads_q, seq_q] contiguous (varlen: [heads_q, cu_seqlens_q[batch]], row h of
 * sequence b's position i at h * cu_seqlens_q[batch] + cu_seqlens_q[b] + i): the natural log
 * of sum_j exp(scale * q_i . k_j) over the visible keys, -inf for a query that sees none.
 * Rows of O and lse that belong to no sequence (varlen padding) are not written.
 * Errors: USINE_ERROR_INVALID_ARGUMENT (null context, descriptor or pointer, bad
 * struct_size, negative size or stride, heads_q not a multiple of heads_kv, negative
 * window, causal not 0 or 1, decreasing or too long cu_seqlens, overlapping outputs),
 * USINE_ERROR_OVERFLOW (a tensor spans more than the address space),
 * USINE_ERROR_NOT_SUPPORTED (dtype, head_dim). On error nothing is written.
 */
USINE_API usine_status usine_attention_forward(usine_context *context,
                                               const usine_attention_desc *desc, const void *q,
                                               const void *k, const void *v, void *o, float *lse);

/*
 * The backward (FlashAttention-2): given the forward's inputs q, k, v, its output o and its
 * lse (required; as usine_attention_forward wrote them) and the gradient d_o of a loss with
 * respect to O, writes the gradients
 *   dq = scale dS K,   dk = scale dS^T Q,   dv = P^T dO,   dS = P (dP - D),   dP = dO V^T,
 *   D_i = sum_c dO_ic O_ic,
 * where P = exp(S - lse) is recomputed block by block from Q, K and lse (the scores are never
 * stored: O(seq * head_dim) memory beyond the tensors). d_o is laid out like O (o_strides),
 * dq like Q (q_strides), dk like K and dv like V; their element type is desc->dtype (bf16
 * gradients are rounded to nearest even from f32 sums). With grouped-query attention, the
 * gradient of a key/value head sums over the query heads that read it.
 * A query that sees no key gets dq = 0, a key that no query sees dk = dv = 0 (never NaN).
 * Rows that belong to no sequence (varlen padding) are not written.
 *
 * Determinism: keys are split into blocks whose dk and dv rows one thread owns; the dq
 * terms of a fixed number of key chunks (a function of the shape only) are summed in
 * separate f32 buffers in a fixed order and then added in chunk order, so results are
 * bitwise identical across runs and thread counts on a given machine and ISA. This costs up
 * to 8 f32 copies of dq in the workspace.
 *
 * Errors: those of usine_attention_forward, and USINE_ERROR_INVALID_ARGUMENT for a NULL
 * o, d_o, lse, dq, dk or dv (when the tensor has an element), strides that make distinct
 * elements of dq, dk or dv share memory, or a gradient overlapping an input or another
 * gradient. On error nothing is written.
 */
USINE_API usine_status usine_attention_backward(usine_context *context,
                                                const usine_attention_desc *desc, const void *q,
                                                const void *k, const void *v, const void *o,
                                                const void *d_o, const float *lse, void *dq,
                                                void *dk, void *dv);

/* ---------------------------------------------------------------- convolution */

/* Memory layouts of 2-D convolution tensors (dense, no padding between elements). */
typedef enum usine_conv_layout {
    USINE_CONV_NHWC = 0, /* x, y: [n, h, w, c]; filters [k, r, s, c / groups] (KRSC) */
    USINE_CONV_NCHW = 1  /* x, y: [n, c, h, w]; filters [k, c / groups, r, s] (KCRS) */
} usine_conv_layout;

/* The three passes of a convolution (for usine_conv2d_workspace_size and introspection). */
typedef enum usine_conv_pass {
    USINE_CONV_FORWARD = 0,
    USINE_CONV_BACKWARD_DATA = 1,
    USINE_CONV_BACKWARD_WEIGHTS = 2
} usine_conv_pass;

/*
 * A 2-D convolution (cross-correlation, as in every framework):
 *   y[n, k, p, q] = act(bias[k] + sum_{c, r, s} x[n, g*C' + c, p*stride_h + r*dilation_h -
 *                   pad_top, q*stride_w + s*dilation_w - pad_left] * w[k, c, r, s])
 * where g = k / (out_channels / groups) is output channel k's group, C' = in_channels /
 * groups, c < C', and x outside [0, in_height) x [0, in_width) counts as 0. Output size:
 *   out_height = (in_height + pad_top + pad_bottom - dilation_h * (filter_height - 1) - 1)
 *                / stride_h + 1      (likewise out_width; usine_conv2d_output_size)
 * which must be >= 1. Depthwise convolution is groups == in_channels (out_channels a
 * multiple of it). usine_conv2d_desc_init fills the defaults (f32, NHWC, stride 1, no
 * padding, dilation 1, one group, no bias, no activation); set the sizes.
 *
 * Elements: dtype USINE_F32, or USINE_BF16 (x, w, y and the gradients in bf16, converted
 * exactly to f32; products and sums in f32; outputs rounded to nearest even). The bias and
 * the bias gradient are f32. Sums are taken in f32 in an order that depends on the
 * algorithm (its error bound: (C' r s + 2) * 2^-24 * sum |terms|; Winograd's is larger and
 * documented with the algorithm).
 *
 * The Winograd variant (forward, NHWC, f32, 3x3, stride 1, undilated, one group; name
 * "..._implicit_gemm_winograd"; only when forced by USINE_CONV_ALGO or chosen by a tuning
 * entry, never by the default rule, since its bound is not the one above) computes each
 * 2 x 2 output block as A^T [(G w G^T) . (B^T x B)] A, F(2x2, 3x3). Every transformed
 * filter value is at most (3/2)^2 max|w|, every transformed input value 4 max|x|, and the
 * output transform adds at most 9 of their C-term sums, so before the bias
 *   |y - exact| <= (C + 12) * 2^-24 * 81 * C * max|w| * max|x|
 * (max|x| over the 4 x 4 x C input patch of the output's 2 x 2 block, max|w| over its
 * filter; C + 12 counts the f32 roundings of the sums over channels and of the four
 * transform stages). With the bias b added and rounded, add 2^-24 * (|exact| + |b|).
 */
typedef struct usine_conv2d_desc {
    size_t struct_size; /* sizeof(usine_conv2d_desc); set by usine_conv2d_desc_init */
    usine_dtype dtype;  /* USINE_F32 or USINE_BF16 */
    usine_conv_layout layout;
    int64_t batch;                                    /* n >= 0 (0: nothing to do) */
    int64_t in_channels;                              /* c >= 1, a multiple of groups */
    int64_t in_height, in_width;                      /* h, w >= 1 */
    int64_t out_channels;                             /* k >= 1, a multiple of groups */
    int64_t filter_height, filter_width;              /* r, s >= 1 */
    int64_t stride_h, stride_w;                       /* >= 1 */
    int64_t pad_top, pad_bottom, pad_left, pad_right; /* >= 0; may differ (asymmetric) */
    int64_t dilation_h, dilation_w;                   /* >= 1 */
    int64_t groups;                                   /* >= 1 */
    /* Forward only: out_channels f32 values added to y, or NULL; then the activation
     * (USINE_ACT_NONE or USINE_ACT_RELU). The backward passes ignore both (the caller
     * applies the activation's derivative to dy). */
    const float *bias;
    usine_activation activation;
} usine_conv2d_desc;

USINE_API usine_status usine_conv2d_desc_init(usine_conv2d_desc *desc);

/* out_height and out_width of the described convolution (errors as the passes'). */
USINE_API usine_status usine_conv2d_output_size(const usine_conv2d_desc *desc, int64_t *out_height,
                                                int64_t *out_width);

/*
 * Bytes of workspace the pass needs on this context (its thread count, its machine's
 * choice of algorithm): the caller allocates them (64-byte alignment is best; any works)
 * and passes them to the pass. usine allocates nothing else during a convolution. 0 is a
 * valid answer (then workspace may be NULL).
 */
USINE_API usine_status usine_conv2d_workspace_size(usine_context *context,
                                                   const usine_conv2d_desc *desc,
                                                   usine_conv_pass pass, size_t *bytes);

/* y = act(conv(x, w) + bias). x, w, y laid out as desc->layout says; y is written whole
 * and never read. */
USINE_API usine_status usine_conv2d_forward(usine_context *context, const usine_conv2d_desc *desc,
                                            const void *x, const void *w, void *y, void *workspace,
                                            size_t workspace_size);

/* dx = the gradient with respect to x of sum(dy * conv(x, w)) (the transposed convolution
 * of dy); dx is written whole, including positions no output reads (set to 0). */
USINE_API usine_status usine_conv2d_backward_data(usine_context *context,
                                                  const usine_conv2d_desc *desc, const void *dy,
                                                  const void *w, void *dx, void *workspace,
                                                  size_t workspace_size);

/* dw = the gradient with respect to w of sum(dy * conv(x, w)); dbias (NULL or
 * out_channels f32 values) = the sum of dy over n, p, q. Both written whole, never
 * accumulated into. */
USINE_API usine_status usine_conv2d_backward_weights(usine_context *context,
                                                     const usine_conv2d_desc *desc, const void *x,
                                                     const void *dy, void *dw, float *dbias,
                                                     void *workspace, size_t workspace_size);

/*
 * Filters packed once for many forward calls (inference: the weights stay the same): the
 * layout the forward's kernels read is then made by usine_conv2d_pack_filters instead of at
 * every call (copying large filters costs 3-8% of a deep layer's forward at batch 1, a
 * tenth or more with 49 output positions). NHWC f32 filters with rows of S C >= 128 floats,
 * and 1x1 filters of a descriptor without stride and padding, are packed into the
 * microkernel panels of the direct algorithm for this context's GEMM kernel, which the
 * forward then runs for every batch size; other NHWC filters are transposed.
 * usine_conv2d_packed_filters_size gives the bytes (about twice the filters'); packed must
 * be 64-byte aligned and is used where it was packed (its header records offsets, not
 * addresses). The packed filters serve any descriptor with the same dtype, layout,
 * channels, filter size and groups (batch, image size, strides, padding, dilation, bias and
 * activation may change), in any context (where its kernel differs from the one the panels
 * were made for, they are packed again per call); usine_conv2d_forward_packed refuses other
 * descriptors, and packed memory whose header is missing or corrupt, with
 * USINE_ERROR_INVALID_ARGUMENT. Its workspace is the one usine_conv2d_workspace_size asks
 * for the forward. Results are those of usine_conv2d_forward with the same filters (within
 * its tolerance: the algorithm chosen may differ, as usine_conv2d_algorithm_name does not
 * know about packing).
 */
USINE_API usine_status usine_conv2d_packed_filters_size(usine_context *context,
                                                        const usine_conv2d_desc *desc,
                                                        size_t *bytes);
USINE_API usine_status usine_conv2d_pack_filters(usine_context *context,
                                                 const usine_conv2d_desc *desc, const void *w,
                                                 void *packed, size_t packed_size);
USINE_API usine_status usine_conv2d_forward_packed(usine_context *context,
                                                   const usine_conv2d_desc *desc, const void *x,
                                                   const void *packed, size_t packed_size, void *y,
                                                   void *workspace, size_t workspace_size);

/*
 * Filters packed once for many backward-data calls (training: every micro-batch between two
 * weight updates, or the backward data of a whole step, reads the same filters; pack after
 * each update). Where this context runs the backward data on the direct variant with packed
 * panels (NHWC f32, groups 1), the filters turned for each stride phase are packed into its
 * panels for this context's GEMM kernel, which the backward data then reads for every
 * batch size instead of making them at every call (they weigh most with few positions:
 * 14 x 14 images at batch 1); other filters are kept as given. Same contract as the
 * forward's above: usine_conv2d_backward_data_packed_size gives the bytes (at most about
 * twice the filters'), packed must be 64-byte aligned and is used where it was packed, the
 * workspace is the one usine_conv2d_workspace_size asks for the backward data, and results
 * are those of usine_conv2d_backward_data within its tolerance. The packed filters serve
 * any descriptor with the same dtype, layout, channels, filter size, groups, strides, top
 * and left padding and dilations (batch and image size may change), in any context (with
 * another kernel the panels are made again per call); usine_conv2d_backward_data_packed
 * refuses other descriptors, filters packed for the forward, and packed memory whose header
 * is missing or corrupt, with USINE_ERROR_INVALID_ARGUMENT.
 */
USINE_API usine_status usine_conv2d_backward_data_packed_size(usine_context *context,
                                                              const usine_conv2d_desc *desc,
                                                              size_t *bytes);
USINE_API usine_status usine_conv2d_pack_filters_backward_data(usine_context *context,
                                                               const usine_conv2d_desc *desc,
                                                               const void *w, void *packed,
                                                               size_t packed_size);
USINE_API usine_status usine_conv2d_backward_data_packed(usine_context *context,
                                                         const usine_conv2d_desc *desc,
                                                         const void *dy, const void *packed,
                                                         size_t packed_size, void *dx,
                                                         void *workspace, size_t workspace_size);

/*
 * Name of the algorithm the pass would run for this descriptor on this context,
 * "usine_conv_<fwd|bwd_data|bwd_weights>_<f32|bf16>_cpu_<algorithm>[_<variant>]" (a static
 * string): algorithms gemm1x1, implicit_gemm, depthwise; variants of the GEMM-based ones
 * (NHWC f32) filters_b (forward: the filters read in place as the GEMM's B operand),
 * direct (forward: x read in place by the microkernel, no im2col), tap_split (backward
 * data: one GEMM per filter tap on the filters in place). The choice: USINE_CONV_ALGO
 * (a full name or the short "<algorithm>[_<variant>]", for the passes and shapes it serves;
 * read when the context is made, an unknown name fails usine_create), else the tuning
 * database (`usine tune --ops conv`: exact, then nearest shape class), else a rule on the
 * shape. Results do not depend on the thread count; they may differ, within the documented
 * tolerance, between algorithms and variants (the sums run in another order).
 */
USINE_API usine_status usine_conv2d_algorithm_name(usine_context *context,
                                                   const usine_conv2d_desc *desc,
                                                   usine_conv_pass pass, const char **name);

/*
 * Errors of every conv2d function: USINE_ERROR_INVALID_ARGUMENT (null context, descriptor,
 * output pointer or tensor pointer of a tensor with an element; bad struct_size, layout,
 * pass or activation; a size or stride out of its range; channels not multiples of groups;
 * an empty output; a workspace smaller than usine_conv2d_workspace_size's answer; an output
 * overlapping an input), USINE_ERROR_OVERFLOW (a tensor's byte size does not fit),
 * USINE_ERROR_NOT_SUPPORTED (dtype). On error nothing is written.
 */

/* ---------------------------------------------------------------- introspection */

/*
 * Name of the kernel usine_gemm would run for this problem on this context's machine,
 * e.g. "usine_sgemm_cpu_avx512_32x12" (a static string). USINE_KERNEL=<name> forces it.
 */
USINE_API usine_status usine_gemm_kernel_name(usine_context *context, usine_dtype dtype, int64_t m,
                                              int64_t n, int64_t k, const char **name);

#ifdef __cplusplus
}
#endif

#endif /* USINE_H */
