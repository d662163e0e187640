// libFuzzer target: the Cloudflare answer classifier purgeq::classify (dispatch/verdict.h).
//
// Input layout (an HttpResponse built from bytes):
//   bytes 0-1  HTTP status, big-endian, modulo 1000 (so 200, 400, 429, 503... are reachable)
//   byte 2     flags: bit 0 set   -> retry_after = (byte2 >> 1) seconds (0..127)
//                     0xC0 bits both set -> a transport error: status 0, transport_error = rest
//   bytes 3-   the response body (or the transport error text)
#include <cstddef>
#include <cstdint>
#include <string>

#include "dispatch/verdict.h"
#include "fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  purgeq::HttpResponse response;
  const unsigned raw_status = (static_cast<unsigned>(data[0]) << 8U) | data[1];
  const std::uint8_t flags = data[2];
  const std::string rest(reinterpret_cast<const char*>(data + 3), size - 3);
  if ((flags & 0xC0U) == 0xC0U) {
    response.status = 0;
    response.transport_error = rest.empty() ? std::string("transport error") : rest;
  } else {
    response.status = static_cast<long>(raw_status % 1000);
    response.body = rest;
  }
  if ((flags & 1U) != 0) response.retry_after = std::chrono::seconds(flags >> 1U);

  const purgeq::Classified out = purgeq::classify(response);

  // What verdict.h promises, independent of how classify gets there.
  PURGEQ_FUZZ_CHECK(out.status == response.status);
  PURGEQ_FUZZ_CHECK(out.retry_after == response.retry_after);
  PURGEQ_FUZZ_CHECK(out.code >= 0);
  PURGEQ_FUZZ_CHECK(!out.message.empty());
  PURGEQ_FUZZ_CHECK(!purgeq::to_string(out.verdict).empty());
  if (!response.transport_error.empty()) {
    PURGEQ_FUZZ_CHECK(out.verdict == purgeq::Verdict::transient);
  } else if (response.status == 429) {
    PURGEQ_FUZZ_CHECK(out.verdict == purgeq::Verdict::rate_limited);
  }
  if (out.verdict == purgeq::Verdict::success) PURGEQ_FUZZ_CHECK(response.status == 200);
  return 0;
}
