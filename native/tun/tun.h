// The TUN device and the packet I/O on its fd, without N-API: what the
// binding (native/binding/tun_binding.cc) and the C++ unit tests share.
//
// Receive: ReadBatch drains a non-blocking fd into one slab (read until EAGAIN
// or the batch is full), recording (offset, length) pairs. Send: WritePacket
// writes one packet straight from the caller's memory. Any fd that keeps
// packet boundaries works (a TUN fd; a SOCK_SEQPACKET socket in tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct iovec;

namespace vpn::tun {

// The largest IP packet: read() is always offered this much room, so a packet
// is never truncated whatever the device's MTU.
constexpr size_t kMaxPacket = 65535;

// Room a read is offered with IFF_VNET_HDR: the header and a maximal packet.
constexpr size_t kMaxVnetRead = kMaxPacket + 10;

// Bytes kept free before and after each packet that a read or a split
// places, so that a tunnel can write its own header and trailer (a nonce,
// an authentication tag) around the packet in place and send it without a
// copy. Packets still start 8-byte aligned.
struct Room {
  size_t head = 0;
  size_t tail = 0;
};

struct OpenOptions {
  std::string name;  // empty: the kernel picks tun%d
  bool multi_queue = false;
  // IFF_VNET_HDR and TUNSETOFFLOAD with as many of these TUN_F_* flags as
  // the kernel takes (checksum + TSO4/6 + USO4/6, then without USO); if it
  // takes none, the device is opened again without IFF_VNET_HDR.
  unsigned offloads = 0;
};

struct Opened {
  int fd = -1;
  std::string name;
  int ifindex = 0;
  bool vnet_hdr = false;  // reads and writes carry a virtio_net_hdr
  unsigned offloads = 0;  // the TUN_F_* flags in force
};

// Opens /dev/net/tun (O_NONBLOCK | O_CLOEXEC) as IFF_TUN | IFF_NO_PI. Returns
// 0, or -errno with *syscall naming the call that failed.
int Open(const OpenOptions& options, Opened* out, const char** syscall);

// TUNSETPERSIST: whether the device outlives its last fd. A session's
// device is made persistent so that a process killed with its session up
// (SIGKILL) leaves its routes pointing into a device nobody reads: traffic
// for the tunnel is dropped, not sent around it, until the next start
// removes the device. Returns 0 or -errno.
int SetPersist(int fd, bool on);

// Checks an interface name: 1..15 bytes, no '/', ':', whitespace or control
// characters, not "." or "..". Returns nullptr, or why the name is refused.
const char* CheckInterfaceName(const std::string& name);

struct ReadResult {
  uint32_t count = 0;     // packets recorded in meta
  uint32_t gso = 0;       // of which super-packets or NEEDS_CSUM (vnet only)
  uint32_t supers = 0;    // of which super-packets (vnet only)
  uint64_t segments = 0;  // the wire-size packets those carry
  size_t bytes = 0;       // their total length
  int error = 0;          // 0 (stopped on EAGAIN or a full batch) or an errno
  bool full = false;      // stopped because the batch or the slab was full
};

// Reads packets into slab[0..slab_size) until the fd has none (EAGAIN), or
// max_packets were read, or less than kMaxPacket bytes of room remain.
// meta[2i] and meta[2i+1] get packet i's offset and length; packets start at
// 8-byte aligned offsets. EINTR is retried. A read of 0 bytes (the peer of a
// socket closed) is reported as error EPIPE.
// With gso (an fd with IFF_VNET_HDR), each read starts with a virtio_net_hdr:
// meta skips it, and gso[8i..8i+6) gets its fields (flags, gso_type,
// hdr_len, gso_size, csum_start, csum_offset). A packet without GSO whose
// checksum is left to us (NEEDS_CSUM) gets it finished here, and the flag
// cleared; ReadResult.gso counts the packets that still need a split.
// room: free bytes around each packet (the virtio header, when there is
// one, lies in the head room: it is parsed into gso by then).
ReadResult ReadBatch(int fd, uint8_t* slab, size_t slab_size, int32_t* meta,
                     uint32_t max_packets, uint16_t* gso = nullptr,
                     Room room = {});

// Checks a packet before it is written: nullptr, or a message; *code gets a
// stable string code. Refused: empty, longer than kMaxPacket, first nibble
// other than 4 or 6.
const char* CheckPacket(const uint8_t* data, size_t len, const char** code);

// Writes one packet. Returns 1 when written, 0 on EAGAIN, or -errno. A write
// that takes less than the whole packet is -EIO: a packet is never truncated.
int WritePacket(int fd, const uint8_t* data, size_t len);

// Writes iov as one packet (a virtio header and the pieces of a packet or
// super-packet) of total bytes; returns as WritePacket.
int WritePacketV(int fd, const struct iovec* iov, int iovcnt, size_t total);

}  // namespace vpn::tun
