// The native parts that run on more than one thread, exercised the way the
// addon runs them, for ThreadSanitizer (npm run test:tsan builds this file
// with -fsanitize=thread; npm test runs it unsanitized as a plain test):
//
//  - RouteTable.fromAsync: InsertMany parses and builds a new table on a
//    libuv worker while the JS thread keeps looking up, inserting into and
//    deleting from its own tables; then the JS thread takes the built table
//    over (libuv's after-work callback: a hand-over through a mutex) and
//    reads it. Several builds run at once on the threadpool (4 threads).
//  - rtnetlink requests: each AsyncWorker opens its own socket on a
//    threadpool thread; several run at once (read-only requests here:
//    link and default-route dumps, so the test changes nothing).
//  - The packet path: read and write on one fd from two threads (the
//    addon does both on the loop's thread today; this keeps tun.cc free
//    of shared state should a reader thread come back).
// Anything these threads share without synchronisation is a TSan report.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "netlink/netlink.h"
#include "route/route_table.h"
#include "test/check.h"
#include "tun/tun.h"

using vpn::route::BulkError;
using vpn::route::BulkResult;
using vpn::route::RouteTable;

namespace {

// A hand-over slot as libuv's work queue is one: the worker puts its result
// under a mutex, the loop thread takes it after being signalled.
template <typename T>
class Handover {
 public:
  void Put(T v) {
    std::lock_guard<std::mutex> lock(m_);
    v_ = std::move(v);
    done_ = true;
    cv_.notify_one();
  }
  T Take() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [this] { return done_; });
    return std::move(v_);
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  T v_{};
};

std::string Ipv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

// n prefixes as InsertMany's text, seeded; value of entry i is i.
std::string Prefixes(uint32_t seed, size_t n, std::vector<uint32_t>* keys,
                     std::vector<int>* lens) {
  std::mt19937 rng(seed);
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    int len = 8 + static_cast<int>(rng() % 25);
    uint32_t key = rng() & vpn::route::Mask<uint32_t>(len);
    keys->push_back(key);
    lens->push_back(len);
    if (i) text += '\n';
    text += Ipv4(key) + "/" + std::to_string(len);
  }
  return text;
}

}  // namespace

TEST(BuildsOnWorkersWhileTheMainThreadLooksUp) {
  constexpr int kWorkers = 4;
  constexpr size_t kPrefixes = 20000;
  std::vector<std::vector<uint32_t>> keys(kWorkers);
  std::vector<std::vector<int>> lens(kWorkers);
  std::vector<std::string> texts;
  for (int w = 0; w < kWorkers; ++w)
    texts.push_back(Prefixes(100 + w, kPrefixes, &keys[w], &lens[w]));
  std::vector<Handover<std::unique_ptr<RouteTable>>> slots(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto t = std::make_unique<RouteTable>();
      BulkResult r;
      BulkError e;
      std::vector<int32_t> values(kPrefixes);
      for (size_t i = 0; i < kPrefixes; ++i)
        values[i] = static_cast<int32_t>(i);
      bool ok = t->InsertMany(texts[w].data(), texts[w].size(), kPrefixes,
                              values.data(), values.size(), 0, &r, &e);
      if (!ok) t.reset();
      slots[w].Put(std::move(t));
    });
  }
  // Meanwhile the "JS thread" changes and reads tables of its own.
  RouteTable mine;
  std::mt19937 rng(7);
  uint64_t hits = 0;
  for (int i = 0; i < 20000; ++i) {
    uint32_t k = rng();
    int len = 16 + static_cast<int>(rng() % 17);
    mine.Insert4(k & vpn::route::Mask<uint32_t>(len), len, i);
    if (i % 3 == 0) mine.Erase4(k & vpn::route::Mask<uint32_t>(len), len);
    hits += mine.Lookup4(rng()) >= 0;
  }
  CHECK(mine.size() > 0);
  (void)hits;
  for (int w = 0; w < kWorkers; ++w) {
    std::unique_ptr<RouteTable> t = slots[w].Take();
    CHECK(t != nullptr);
    if (!t) continue;
    // Every prefix is there, with the value of its last occurrence.
    size_t checked = 0;
    for (size_t i = 0; i < kPrefixes; ++i) {
      int32_t v = -1;
      CHECK(t->Get4(keys[w][i], lens[w][i], &v));
      if (v >= static_cast<int32_t>(i)) ++checked;
    }
    CHECK_EQ(checked, kPrefixes);
    std::vector<uint32_t> addrs(256);
    std::vector<int32_t> out(256);
    for (auto& a : addrs) a = rng();
    t->LookupBatch4(addrs.data(), out.data(), addrs.size());
    for (size_t i = 0; i < addrs.size(); ++i)
      CHECK_EQ(out[i], t->Lookup4(addrs[i]));
  }
  for (auto& th : workers) th.join();
}

TEST(ConcurrentNetlinkRequests) {
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 25; ++j) {
        vpn::netlink::LinkInfo lo;
        if (vpn::netlink::GetLink(1, &lo) != 0 || lo.name != "lo") ++failures;
        vpn::netlink::DefaultRoute d;
        bool found = false;
        if (vpn::netlink::GetDefaultRoute(AF_INET, &d, &found) != 0) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_EQ(failures.load(), 0);
}

TEST(ReadAndWriteOnOneFdFromTwoThreads) {
  int fds[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, fds), 0);
  constexpr int kPackets = 20000;
  std::thread writer([&] {
    uint8_t p[64] = {0x45};
    for (int i = 0; i < kPackets;) {
      memcpy(p + 4, &i, sizeof i);
      int r = vpn::tun::WritePacket(fds[1], p, sizeof p);
      if (r == 1)
        ++i;
      else if (r == 0)
        std::this_thread::yield();
      else
        break;
    }
  });
  std::vector<uint8_t> slab(256 * 1024);
  std::vector<int32_t> meta(2 * 256);
  int got = 0, in_order = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (got < kPackets && std::chrono::steady_clock::now() < deadline) {
    vpn::tun::ReadResult r =
        vpn::tun::ReadBatch(fds[0], slab.data(), slab.size(), meta.data(), 256);
    if (r.error) break;
    for (uint32_t i = 0; i < r.count; ++i) {
      int seq;
      memcpy(&seq, slab.data() + meta[2 * i] + 4, sizeof seq);
      in_order += seq == got;
      ++got;
    }
    if (r.count == 0) std::this_thread::yield();
  }
  writer.join();
  CHECK_EQ(got, kPackets);
  CHECK_EQ(in_order, kPackets);
  close(fds[0]);
  close(fds[1]);
}

TEST_MAIN()
