#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

int Open(const OpenOptions& options, Opened* out, const char** syscall) {
  *syscall = "open";
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (options.multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
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

ReadResult ReadBatch(int fd, uint8_t* slab, size_t slab_size, int32_t* meta,
                     uint32_t max_packets) {
  ReadResult r;
  size_t off = 0;
  while (true) {
    if (r.count == max_packets || slab_size - off < kMaxPacket) {
      r.full = true;
      break;
    }
    ssize_t n = ::read(fd, slab + off, kMaxPacket);
    if (n > 0) {
      meta[2 * r.count] = static_cast<int32_t>(off);
      meta[2 * r.count + 1] = static_cast<int32_t>(n);
      ++r.count;
      r.bytes += static_cast<size_t>(n);
      off += (static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
      if (off > slab_size) off = slab_size;
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
