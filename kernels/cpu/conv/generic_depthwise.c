/* The depthwise convolution kernels compiled for generic (see depthwise_impl.h). */
#define USINE_DW_PREFIX usine_conv_dw_generic_
#include "depthwise_impl.h"
