// Baselines and load for bench/packet (built by bench/packet/run.js with cc).
// Runs only inside the network namespace that the bench creates.
//
//   tunbench read QLEN            own TUN 198.18.0.1/24, txqueuelen QLEN; after
//                                 "go" on stdin, a plain read() loop drains the
//                                 queue until EAGAIN
//   tunbench write N SIZE         own TUN; after "go", a plain write() loop of N
//                                 UDP packets 198.18.0.2 -> 198.18.0.1:9999
//   tunbench flood N SIZE         N UDP datagrams to 198.18.0.2:9999, sendmmsg(64)
//   tunbench sink                 UDP 198.18.0.1:9999, tiny buffer, never reads
//   tunbench packet SIZE          writes the UDP packet `write` uses to stdout
// Each mode prints one JSON line (the packet mode: raw bytes).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../cbench.h"

static int open_tun(int qlen) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  configure_tun(ifr.ifr_name, qlen);
  printf("{\"ready\":\"%s\"}\n", ifr.ifr_name);
  fflush(stdout);
  return fd;
}


static uint16_t csum(const uint8_t *b, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (n & 1) sum += b[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// An IPv4 UDP packet 198.18.0.2:40000 -> 198.18.0.1:9999 with `payload` bytes.
static size_t build_udp(uint8_t *p, size_t payload) {
  size_t total = 28 + payload;
  memset(p, 0, total);
  p[0] = 0x45;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[8] = 64;
  p[9] = 17;
  const uint8_t src[4] = {198, 18, 0, 2}, dst[4] = {198, 18, 0, 1};
  memcpy(p + 12, src, 4);
  memcpy(p + 16, dst, 4);
  uint16_t c = csum(p, 20, 0);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  p[20] = 40000 >> 8;
  p[21] = 40000 & 0xff;
  p[22] = 9999 >> 8;
  p[23] = 9999 & 0xff;
  p[24] = (8 + payload) >> 8;
  p[25] = (8 + payload) & 0xff;
  for (size_t i = 0; i < payload; i++) p[28 + i] = (uint8_t)i;
  // Pseudo-header: addresses, protocol, UDP length.
  uint32_t pseudo = (198 << 8 | 18) * 2 + 2 + 1 + 17 + (uint32_t)(8 + payload);
  c = csum(p + 20, 8 + payload, pseudo);
  p[26] = c >> 8;
  p[27] = c & 0xff;
  return total;
}

static void report(const char *mode, unsigned long long packets, unsigned long long bytes,
                   double secs, double cpus) {
  printf("{\"mode\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"cpu\":%.6f}\n",
         mode, packets, bytes, secs, cpus);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tunbench read|write|flood|sink|packet ...\n");
    return 2;
  }
  const char *mode = argv[1];
  long n_arg = argc > 2 ? atol(argv[2]) : 0;
  size_t size = argc > 3 ? (size_t)atoi(argv[3]) : 64;
  static uint8_t buf[65536];

  if (!strcmp(mode, "read")) {
    int fd = open_tun((int)n_arg);
    wait_go();
    unsigned long long n = 0, bytes = 0;
    double cpu0 = cpu(), start = now(), last = start;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("read");
      }
      n++;
      bytes += (unsigned long long)r;
    }
    last = now();
    report("read", n, bytes, last - start, cpu() - cpu0);
    return 0;
  }

  if (!strcmp(mode, "write")) {
    int fd = open_tun(0);
    size_t len = build_udp(buf, size);
    wait_go();
    double cpu0 = cpu(), start = now();
    for (long i = 0; i < n_arg; i++) {
      if (write(fd, buf, len) != (ssize_t)len) {
        if (errno == EINTR) {
          i--;
          continue;
        }
        die("write");
      }
    }
    report("write", (unsigned long long)n_arg, (unsigned long long)n_arg * len, now() - start,
           cpu() - cpu0);
    return 0;
  }

  if (!strcmp(mode, "packet")) {
    size_t len = build_udp(buf, (size_t)n_arg);
    fwrite(buf, 1, len, stdout);
    return 0;
  }

  if (!strcmp(mode, "flood")) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9999)};
    inet_pton(AF_INET, "198.18.0.2", &dst.sin_addr);
    if (connect(s, (struct sockaddr *)&dst, sizeof dst) < 0) die("connect");
    enum { VLEN = 64 };
    struct mmsghdr msgs[VLEN];
    struct iovec iov[VLEN];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < VLEN; i++) {
      iov[i].iov_base = buf;
      iov[i].iov_len = size;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long sent = 0;
    double start = now();
    while ((long)sent < n_arg) {
      unsigned vlen = n_arg - (long)sent < VLEN ? (unsigned)(n_arg - (long)sent) : VLEN;
      int r = sendmmsg(s, msgs, vlen, 0);
      if (r < 0) {
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
        die("sendmmsg");
      }
      sent += (unsigned)r;
    }
    report("flood", sent, sent * size, now() - start, cpu());
    return 0;
  }

  if (!strcmp(mode, "sink")) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int small = 1;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9999)};
    inet_pton(AF_INET, "198.18.0.1", &a.sin_addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    printf("{\"ready\":\"sink\"}\n");
    fflush(stdout);
    pause();
    return 0;
  }
  fprintf(stderr, "tunbench: unknown mode %s\n", mode);
  return 2;
}
