// XLA FFI handler symbols of phasic (CPU); registered from Python with jax.ffi.register_ffi_target.
#pragma once

#include "xla/ffi/api/api.h"

namespace phasic {
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicSolve);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicCoefMatvec);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicMatvec);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicPropagate);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicPropagateVjp);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicCarry);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicCarryVjp);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicCoxianState);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicSeries);
XLA_FFI_DECLARE_HANDLER_SYMBOL(PhasicSeriesJac);
}  // namespace phasic
