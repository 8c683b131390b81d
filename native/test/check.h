// A minimal test harness for the C++ unit tests (no dependency to install):
// TEST(name) { CHECK(...); CHECK_EQ(a, b); } and a main that runs them all
// and ends with the line "N passed, N failed".
#pragma once

#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& Registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& Failures() {
  static int failures = 0;
  return failures;
}

struct Register {
  Register(const char* name, std::function<void()> fn) {
    Registry().push_back({name, std::move(fn)});
  }
};

template <typename A, typename B>
void ExpectEq(const A& a, const B& b, const char* ea, const char* eb,
              const char* file, int line) {
  if (a == b) return;
  std::ostringstream os;
  os << a << " != " << b;
  std::fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %s\n", file, line, ea,
               eb, os.str().c_str());
  ++Failures();
}

inline int RunAll() {
  int passed = 0, failed = 0;
  for (auto& c : Registry()) {
    int before = Failures();
    c.fn();
    if (Failures() == before) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAIL %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST(name)                                           \
  static void name();                                        \
  static check::Register CHECK_CAT(reg_, name)(#name, name); \
  static void name()
#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                   #cond);                                                  \
      ++check::Failures();                                                  \
    }                                                                       \
  } while (0)
#define CHECK_EQ(a, b) check::ExpectEq((a), (b), #a, #b, __FILE__, __LINE__)
#define TEST_MAIN() \
  int main() { return check::RunAll(); }
