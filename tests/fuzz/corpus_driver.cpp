// Replays a fuzz corpus through LLVMFuzzerTestOneInput, for compilers without libFuzzer (GCC).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const auto bytes = ss.str();
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      // Every prefix too: truncated input is the most common malformed body.
      for (std::size_t n = 0; n < bytes.size(); n += 7) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), n);
      }
      ++inputs;
    }
  }
  std::cout << "replayed " << inputs << " corpus inputs\n";
  return inputs > 0 ? 0 : 1;
}
