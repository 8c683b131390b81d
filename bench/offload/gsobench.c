// Baselines and load for bench/offload (built by bench/offload/run.js with
// cc). Runs only inside the network namespaces that the bench creates.
//
//   gsobench read QLEN OFFLOAD     own TUN 198.18.0.1/24, txqueuelen QLEN,
//                                  IFF_VNET_HDR + TSO/USO if OFFLOAD is 1;
//                                  after "go" on stdin, read() drains the
//                                  queue until EAGAIN (super-packets whole)
//   gsobench flood BYTES SEG FLOWS UDP payload to 198.18.0.2:9999.. (FLOWS
//                                  ports) in UDP_SEGMENT sends of SEG-byte
//                                  segments (about 64 KiB a send)
//   gsobench bridge A B OFFLOAD    creates TUN devices A and B; after "go",
//                                  forwards every packet A <-> B (headers
//                                  and all) until stdin closes
//   gsobench tcpsink PORT          accepts one TCP connection, reads to EOF
//   gsobench tcpsend ADDR PORT MB  connects and writes MB MiB
// Each mode prints JSON lines: {"ready":...} when set up, then a report.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | 0x20 | 0x40)

#include "../cbench.h"

static int open_tun(const char *name, int offload) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  if (name) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (offload && ioctl(fd, TUNSETOFFLOAD, OFFLOADS) < 0 &&
      ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)
    die("TUNSETOFFLOAD");
  return fd;
}

static char tun_name[IFNAMSIZ];
static int tun_named(int fd) {
  struct ifreq ifr;
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) die("TUNGETIFF");
  memcpy(tun_name, ifr.ifr_name, IFNAMSIZ);
  return fd;
}

static void report(const char *mode, unsigned long long reads,
                   unsigned long long bytes, double secs, double cpus) {
  printf(
      "{\"mode\":\"%s\",\"reads\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
      "\"cpu\":%.6f}\n",
      mode, reads, bytes, secs, cpus);
  fflush(stdout);
}

static uint8_t buf[2][65536 + 64];

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gsobench read|flood|bridge|tcpsink|tcpsend ...\n");
    return 2;
  }
  const char *mode = argv[1];

  if (!strcmp(mode, "read") && argc == 4) {
    int offload = atoi(argv[3]);
    int fd = tun_named(open_tun(NULL, offload));
    configure_tun(tun_name, atoi(argv[2]));
    printf("{\"ready\":\"%s\"}\n", tun_name);
    fflush(stdout);
    wait_go();
    size_t skip = offload ? 10 : 0;
    unsigned long long reads = 0, bytes = 0;
    double cpu0 = cpu(), start = now();
    for (;;) {
      ssize_t n = read(fd, buf[0], sizeof buf[0]);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("read");
      }
      reads++;
      bytes += (size_t)n - skip;
    }
    report("read", reads, bytes, now() - start, cpu() - cpu0);
    return 0;
  }

  if (!strcmp(mode, "flood") && argc == 5) {
    unsigned long long total = strtoull(argv[2], NULL, 10), sent = 0;
    int seg = atoi(argv[3]), flows = atoi(argv[4]);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    if (setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) < 0)
      die("UDP_SEGMENT");
    // At most 64 segments a send (older kernels' UDP_MAX_SEGMENTS).
    size_t per = 63000 / seg < 64 ? 63000 / seg : 64;
    size_t chunk = (size_t)seg * per;
    memset(buf[0], 0x5a, chunk);
    struct sockaddr_in to = {.sin_family = AF_INET};
    inet_pton(AF_INET, "198.18.0.2", &to.sin_addr);
    unsigned long long i = 0;
    while (sent < total) {
      to.sin_port = htons(9999 + (i++ % flows));
      size_t len = total - sent < chunk ? total - sent : chunk;
      if (sendto(s, buf[0], len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
        if (errno == ENOBUFS || errno == EAGAIN) continue;
        die("sendto");
      }
      sent += len;
    }
    printf("{\"sent\":%llu}\n", sent);
    return 0;
  }

  if (!strcmp(mode, "bridge") && argc == 5) {
    int offload = atoi(argv[4]);
    int fds[2] = {open_tun(argv[2], offload), open_tun(argv[3], offload)};
    printf("{\"ready\":true}\n");
    fflush(stdout);
    wait_go();
    unsigned long long reads = 0, bytes = 0;
    double cpu0 = cpu(), start = now();
    struct pollfd p[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {0, POLLIN, 0}};
    for (;;) {
      if (poll(p, 3, -1) < 0) {
        if (errno == EINTR) continue;
        die("poll");
      }
      if (p[2].revents) break;  // stdin closed or "stop"
      for (int k = 0; k < 2; k++) {
        if (!p[k].revents) continue;
        for (;;) {
          ssize_t n = read(fds[k], buf[k], sizeof buf[k]);
          if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            die("read");
          }
          reads++;
          bytes += (size_t)n;
          while (write(fds[1 - k], buf[k], (size_t)n) < 0) {
            if (errno == EAGAIN) {
              struct pollfd w = {fds[1 - k], POLLOUT, 0};
              poll(&w, 1, 100);
            } else if (errno != EINTR) {
              break;  // the kernel refused it: dropped, as a wire would
            }
          }
        }
      }
    }
    report("bridge", reads, bytes, now() - start, cpu() - cpu0);
    return 0;
  }

  if (!strcmp(mode, "tcpsink") && argc == 3) {
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons(atoi(argv[2]))};
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(l, 1) < 0) die("listen");
    printf("{\"ready\":true}\n");
    fflush(stdout);
    int c = accept(l, NULL, NULL);
    if (c < 0) die("accept");
    unsigned long long bytes = 0;
    double start = now(), cpu0 = cpu();
    for (;;) {
      ssize_t n = read(c, buf[0], sizeof buf[0]);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      bytes += (size_t)n;
    }
    report("tcpsink", 0, bytes, now() - start, cpu() - cpu0);
    return 0;
  }

  if (!strcmp(mode, "tcpsend") && argc == 5) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int family = strchr(argv[2], ':') ? AF_INET6 : AF_INET;
    if (family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(atoi(argv[3]));
      inet_pton(AF_INET6, argv[2], &a->sin6_addr);
      len = sizeof *a;
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET;
      a->sin_port = htons(atoi(argv[3]));
      inet_pton(AF_INET, argv[2], &a->sin_addr);
      len = sizeof *a;
    }
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(s, (struct sockaddr *)&ss, len) < 0) die("connect");
    unsigned long long total = strtoull(argv[4], NULL, 10) << 20, sent = 0;
    memset(buf[0], 0x5a, sizeof buf[0]);
    double start = now(), cpu0 = cpu();
    while (sent < total) {
      size_t n = total - sent < 65536 ? total - sent : 65536;
      ssize_t w = write(s, buf[0], n);
      if (w < 0) {
        if (errno == EINTR) continue;
        die("write");
      }
      sent += (size_t)w;
    }
    shutdown(s, SHUT_WR);
    while (read(s, buf[0], sizeof buf[0]) > 0) {
    }
    report("tcpsend", 0, sent, now() - start, cpu() - cpu0);
    return 0;
  }

  fprintf(stderr, "gsobench: bad arguments for %s\n", mode);
  return 2;
}
