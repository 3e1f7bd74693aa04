// Keeps the example exchange in proto/README.md true: the hex there must be what the encoder
// writes for the same messages. On a mismatch the test prints the block to paste.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/body.h"
#include "proto/frame_decoder.h"
#include "tests/unit/proto/proto_test_util.h"

namespace spool::proto {
namespace {

std::string ReadmePath() {
  std::string here = __FILE__;  // .../tests/unit/proto/readme_example_test.cc
  return here.substr(0, here.rfind("/tests/unit/proto/")) + "/proto/README.md";
}

// The hex of the ```text block after "<!-- hex:NAME -->", spaces and newlines removed.
std::string ReadmeHex(const std::string& readme, const std::string& name) {
  const std::string marker = "<!-- hex:" + name + " -->";
  size_t pos = readme.find(marker);
  if (pos == std::string::npos) return "<no block " + name + ">";
  pos = readme.find("```text\n", pos);
  const size_t end = readme.find("```", pos + 8);
  if (pos == std::string::npos || end == std::string::npos) return "<unclosed block " + name + ">";
  std::string hex;
  for (char c : readme.substr(pos + 8, end - pos - 8)) {
    if (c != ' ' && c != '\n') hex.push_back(c);
  }
  return hex;
}

// 16 bytes a line, space-separated, as the README shows them.
std::string Block(std::span<const std::byte> bytes) {
  std::string hex = testing::Hex(bytes);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out += hex.substr(i, 2);
    out += ((i / 2) % 16 == 15 || i + 2 == hex.size()) ? "\n" : " ";
  }
  return out;
}

struct Example {
  std::string name;
  std::vector<std::byte> bytes;
};

std::vector<Example> Examples() {
  std::vector<Example> out;
  v1::ApiVersionsRequest hello;
  hello.set_client_software_name("spool-cli");
  hello.set_client_software_version("0.1.0");
  out.push_back(
      {"api_versions_request",
       testing::EncodeToBytes(FrameHeader{.api_key = v1::API_KEY_API_VERSIONS, .correlation_id = 1},
                              hello)});

  v1::ApiVersionsResponse versions;
  for (const ApiVersionSupport& api : SupportedApis()) {
    auto* range = versions.add_api_keys();
    range->set_api_key(api.api_key);
    range->set_min_version(api.min_version);
    range->set_max_version(api.max_version);
  }
  out.push_back({"api_versions_response",
                 testing::EncodeToBytes(FrameHeader{.flags = kFlagResponse,
                                                    .api_key = v1::API_KEY_API_VERSIONS,
                                                    .correlation_id = 1},
                                        versions)});

  record::BatchBuilder builder;
  builder.Append(1700000000000, "k", "hello");
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  EXPECT_TRUE(batch.ok()) << batch.status();
  v1::ProduceRequest produce;
  produce.set_acks(-1);
  produce.set_timeout_ms(30000);
  auto* topic = produce.add_topics();
  topic->set_name("events");
  topic->add_partitions()->set_payload_bytes(static_cast<uint32_t>(batch->size()));
  const std::span<const std::byte> parts[] = {*batch};
  out.push_back(
      {"produce_request",
       testing::EncodeToBytes(FrameHeader{.api_key = v1::API_KEY_PRODUCE, .correlation_id = 2},
                              produce, parts)});
  return out;
}

TEST(ReadmeExample, HexMatchesTheEncoder) {
  std::ifstream in(ReadmePath());
  ASSERT_TRUE(in) << "cannot open " << ReadmePath();
  std::stringstream text;
  text << in.rdbuf();
  for (const Example& e : Examples()) {
    EXPECT_EQ(ReadmeHex(text.str(), e.name), testing::Hex(e.bytes))
        << "proto/README.md is out of date; block <!-- hex:" << e.name << " --> should be:\n"
        << "```text\n"
        << Block(e.bytes) << "```\n";
  }
}

TEST(ReadmeExample, ExamplesDecode) {
  for (const Example& e : Examples()) {
    EXPECT_TRUE(DecodeOneFrameForFuzz(e.bytes).ok()) << e.name;
  }
}

}  // namespace
}  // namespace spool::proto
