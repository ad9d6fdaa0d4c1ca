// C = op(A) @ op(B) through oneDNN's matmul primitive, as XLA FFI handlers for jax.ffi.
//
// A [M,K] (or [K,M] with trans_a), B [K,N] (or [N,K] with trans_b), C [M,N] row-major: a
// transpose is a layout flag, never a copy. oneDNN picks its kernel from the CPU's flags
// (AVX512-BF16, AMX) and caches the primitive per shape. Built by seq2seq_jax/kernels/onednn.py.
#include <cstdint>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

template <ffi::DataType T>
constexpr memory::data_type Dnnl() {
  return T == ffi::DataType::BF16 ? memory::data_type::bf16 : memory::data_type::f32;
}

template <ffi::DataType In, ffi::DataType Out>
ffi::Error Matmul(ffi::Buffer<In> a, ffi::Buffer<In> b, ffi::ResultBuffer<Out> c, bool trans_a,
                  bool trans_b) {
  auto ad = a.dimensions(), bd = b.dimensions();
  if (ad.size() != 2 || bd.size() != 2) {
    return ffi::Error::InvalidArgument("onednn matmul: operands must be 2-D");
  }
  const int64_t m = trans_a ? ad[1] : ad[0], k = trans_a ? ad[0] : ad[1];
  const int64_t kb = trans_b ? bd[1] : bd[0], n = trans_b ? bd[0] : bd[1];
  if (k != kb) return ffi::Error::InvalidArgument("onednn matmul: contracting sizes differ");
  try {
    using tag = memory::format_tag;
    memory::desc a_md({m, k}, Dnnl<In>(), trans_a ? tag::ba : tag::ab);
    memory::desc b_md({k, n}, Dnnl<In>(), trans_b ? tag::ba : tag::ab);
    memory::desc c_md({m, n}, Dnnl<Out>(), tag::ab);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::matmul::primitive_desc pd(Engine(), a_md, b_md, c_md);
#else
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), Engine());
#endif
    dnnl::matmul primitive(pd);
    memory am(a_md, Engine(), a.untyped_data()), bm(b_md, Engine(), b.untyped_data());
    memory cm(c_md, Engine(), c->untyped_data());
    dnnl::stream stream(Engine());
    primitive.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("onednn matmul: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

#define SEQ2SEQ_MATMUL(name, In, Out)                                             \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, (Matmul<In, Out>),                          \
                                ffi::Ffi::Bind()                                  \
                                    .Arg<ffi::Buffer<In>>()                       \
                                    .Arg<ffi::Buffer<In>>()                       \
                                    .Ret<ffi::Buffer<Out>>()                      \
                                    .Attr<bool>("trans_a")                        \
                                    .Attr<bool>("trans_b"));

SEQ2SEQ_MATMUL(Seq2seqOnednnMatmulBf16, ffi::DataType::BF16, ffi::DataType::BF16)
SEQ2SEQ_MATMUL(Seq2seqOnednnMatmulF32, ffi::DataType::F32, ffi::DataType::F32)
