#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tun/offload.h"

namespace vpn::tun {

const char* CheckInterfaceName(const std::string& name) {
  if (name.empty()) return "interface name is empty";
  if (name.size() >= IFNAMSIZ) return "interface name is longer than 15 bytes";
  if (name == "." || name == "..") return "interface name may not be . or ..";
  for (unsigned char c : name) {
    if (c <= ' ' || c == '/' || c == ':' || c >= 0x7f)
      return "interface name may not hold '/', ':', spaces or control "
             "characters";
  }
  return nullptr;
}

namespace {

// The offload sets tried in turn: everything, then without UDP (USO needs
// Linux 6.2), then TCP only over IPv4 and IPv6 with checksums.
constexpr unsigned kOffloadSets[] = {
    kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6,
    kTunFCsum | kTunFTso4 | kTunFTso6,
};

unsigned SetOffloads(int fd, unsigned wanted) {
  for (unsigned set : kOffloadSets) {
    set &= wanted;
    if (!(set & kTunFCsum)) continue;
    if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(set)) == 0)
      return set;
  }
  return 0;
}

}  // namespace

int Open(const OpenOptions& options, Opened* out, const char** syscall) {
  *syscall = "open";
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;

  bool vnet = false;
  if (options.offloads & kTunFCsum) {
    unsigned features = 0;
    vnet =
        ioctl(fd, TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (options.multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;
  if (!options.name.empty()) {
    memcpy(ifr.ifr_name, options.name.data(), options.name.size());
  }
  *syscall = "ioctl(TUNSETIFF)";
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  if (vnet) {
    unsigned offloads = SetOffloads(fd, options.offloads);
    if (!offloads) {
      // A header on every packet for nothing: open it plain instead.
      ::close(fd);
      OpenOptions plain = options;
      plain.offloads = 0;
      return Open(plain, out, syscall);
    }
    out->vnet_hdr = true;
    out->offloads = offloads;
  }
  out->name = ifr.ifr_name;
  *syscall = "if_nametoindex";
  unsigned index = if_nametoindex(ifr.ifr_name);
  if (index == 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  out->fd = fd;
  out->ifindex = static_cast<int>(index);
  return 0;
}

int SetPersist(int fd, bool on) {
  if (ioctl(fd, TUNSETPERSIST, on ? 1UL : 0UL) < 0) return -errno;
  return 0;
}

ReadResult ReadBatch(int fd, uint8_t* slab, size_t slab_size, int32_t* meta,
                     uint32_t max_packets, uint16_t* gso, Room room) {
  ReadResult r;
  size_t off = 0;
  const size_t read_room = gso ? kMaxVnetRead : kMaxPacket;
  const size_t skip = gso ? kVnetHdrLen : 0;
  // The packet starts 8-byte aligned with at least the head room before
  // it; a virtio header is read into the last 10 bytes of that.
  const size_t before = room.head > skip ? room.head : skip;
  while (true) {
    size_t start = (off + before + 7) & ~static_cast<size_t>(7);
    if (r.count == max_packets ||
        start - skip + read_room + room.tail > slab_size) {
      r.full = true;
      break;
    }
    ssize_t n = ::read(fd, slab + start - skip, read_room);
    if (n > 0) {
      if (static_cast<size_t>(n) <= skip) {
        r.error = EIO;  // a header without a packet: not from a TUN fd
        break;
      }
      size_t len = static_cast<size_t>(n) - skip;
      if (gso) {
        uint8_t* hdr = slab + start - skip;
        VnetHdr h = ReadVnetHdr(hdr);
        // A wire-size packet whose checksum was left to us is finished
        // here, while it is in cache, and its header says so from now on:
        // batches of them need no split round.
        if (h.gso_type == kGsoNone && (h.flags & kNeedsCsum) &&
            FinishChecksum(hdr + kVnetHdrLen, len, h)) {
          h.flags = static_cast<uint8_t>(h.flags & ~kNeedsCsum);
          hdr[0] = h.flags;
        }
        uint16_t* g = gso + 8 * r.count;
        g[0] = h.flags;
        g[1] = h.gso_type;
        g[2] = h.hdr_len;
        g[3] = h.gso_size;
        g[4] = h.csum_start;
        g[5] = h.csum_offset;
        if (h.flags || h.gso_type) ++r.gso;
        if (h.gso_type != kGsoNone) {
          ++r.supers;
          r.segments += SegmentCount(hdr + kVnetHdrLen, len, h);
        }
      }
      meta[2 * r.count] = static_cast<int32_t>(start);
      meta[2 * r.count + 1] = static_cast<int32_t>(len);
      ++r.count;
      r.bytes += len;
      off = start + len + room.tail;
      continue;
    }
    if (n == 0) {
      r.error = EPIPE;
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) r.error = errno;
    break;
  }
  return r;
}

const char* CheckPacket(const uint8_t* data, size_t len, const char** code) {
  if (len == 0) {
    *code = "ERR_EMPTY_PACKET";
    return "Can't send an empty packet.";
  }
  if (len > kMaxPacket) {
    *code = "ERR_PACKET_TOO_LARGE";
    return "Packet too large: an IP packet holds at most 65535 bytes.";
  }
  unsigned version = data[0] >> 4;
  if (version != 4 && version != 6) {
    *code = "ERR_NOT_IP_PACKET";
    return "Not an IP packet: the first nibble must be 4 or 6.";
  }
  return nullptr;
}

int WritePacketV(int fd, const struct iovec* iov, int iovcnt, size_t total) {
  while (true) {
    ssize_t n = ::writev(fd, iov, iovcnt);
    if (n == static_cast<ssize_t>(total)) return 1;
    if (n >= 0) return -EIO;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
  }
}

int WritePacket(int fd, const uint8_t* data, size_t len) {
  while (true) {
    ssize_t n = ::write(fd, data, len);
    if (n == static_cast<ssize_t>(len)) return 1;
    if (n >= 0) return -EIO;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
  }
}

}  // namespace vpn::tun
