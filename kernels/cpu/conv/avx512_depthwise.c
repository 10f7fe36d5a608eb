/* The depthwise convolution kernels compiled for avx512 (see depthwise_impl.h). */
#define USINE_DW_PREFIX usine_conv_dw_avx512_
#include "depthwise_impl.h"
