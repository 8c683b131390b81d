// Baselines and load for bench/udp (built by bench/udp/run.js with cc): the
// plain C loops our UdpSocket is measured against, with the same offloads.
// Runs only inside the network namespace the bench's trial creates.
//
//   udpbench flood ADDR PORT SIZE       after "go", UDP_SEGMENT sends of
//                                       64 SIZE-byte datagrams each, 16
//                                       per sendmmsg, until stdin closes
//   udpbench recv PORT SIZE GRO         after "go", recvmmsg (32 messages,
//                                       UDP_GRO if GRO is 1) until stdin
//                                       closes; reports datagrams and CPU
//   udpbench send ADDR PORT COUNT SIZE GSO [PER_CALL SPLIT]
//                                       after "go", sends COUNT datagrams:
//                                       runs of up to 64 in UDP_SEGMENT
//                                       messages (GSO 1) or one a message,
//                                       64 messages (or PER_CALL datagrams)
//                                       a sendmmsg, one iovec a message (or
//                                       a datagram: SPLIT 1); reports
//   udpbench sink PORT                  receives and drops (GRO) until
//                                       stdin closes
// Each mode prints JSON lines: {"ready":...} when set up, then a report.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#include "../cbench.h"

#define MSGS 32
#define SLOT 65536

static int udp_socket(int port, int gro) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int big = 64 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) die("SO_RCVBUFFORCE");
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) die("SO_SNDBUFFORCE");
  int one = 1;
  if (gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) die("UDP_GRO");
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (port && bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) die("bind");
  return fd;
}

static struct sockaddr_in peer(const char *addr, int port) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) die("address");
  return sin;
}

// Whether stdin has closed (the trial is over), without blocking.
static int stdin_closed(void) {
  struct pollfd p = {.fd = 0, .events = POLLIN};
  if (poll(&p, 1, 0) <= 0) return 0;
  char c;
  return read(0, &c, 1) <= 0;
}

// Sends `count` datagrams of `size` bytes (count < 0: until stdin closes);
// gso: runs of 64 in one UDP_SEGMENT message. per_call: datagrams one
// sendmmsg takes at most (0: 64 messages' worth); split_iov: one iovec a
// datagram, as for datagrams in separate buffers. Returns datagrams sent.
static long send_loop(int fd, struct sockaddr_in *to, long count, int size, int gso,
                      int per_call, int split_iov) {
  static uint8_t data[64 * 65536];
  static struct iovec piece[64 * 64];
  memset(data, 0x5a, sizeof data);
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  char ctl[64][CMSG_SPACE(sizeof(uint16_t))];
  int per = gso ? 64 : 1;
  if (per * size > 65507) per = 65507 / size;
  // The datagrams come from 256 datagrams' worth of memory, walked in turn,
  // as a tunnel's batch is (not one hot 64 KiB area sent over and over).
  size_t ring = 256, at = 0;
  long sent = 0;
  while (count < 0 || sent < count) {
    if (count < 0 && (sent & 0xffff) < 1024 && stdin_closed()) break;
    int m = 0, p = 0;
    long left = count < 0 ? 1L << 40 : count - sent;
    if (per_call > 0 && left > per_call) left = per_call;
    for (; m < 64 && left > 0; m++) {
      int n = left < per ? (int)left : per;
      left -= n;
      if (at + n > ring) at = 0;
      uint8_t *base = data + at * size;
      at += n;
      iov[m].iov_base = base;
      iov[m].iov_len = (size_t)n * size;
      struct msghdr *h = &msgs[m].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = to;
      h->msg_namelen = sizeof *to;
      h->msg_iov = &iov[m];
      h->msg_iovlen = 1;
      if (split_iov) {
        h->msg_iov = &piece[p];
        h->msg_iovlen = n;
        for (int k = 0; k < n; k++, p++) {
          piece[p].iov_base = base + (size_t)k * size;
          piece[p].iov_len = size;
        }
      }
      if (n > 1) {
        h->msg_control = ctl[m];
        h->msg_controllen = sizeof ctl[m];
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s = (uint16_t)size;
        memcpy(CMSG_DATA(c), &s, sizeof s);
      }
    }
    int r = sendmmsg(fd, msgs, m, 0);
    if (r < 0) die("sendmmsg");
    for (int k = 0; k < r; k++) sent += iov[k].iov_len / size;
  }
  return sent;
}

static void recv_loop(int fd, int size, int report) {
  static uint8_t slots[MSGS][SLOT];
  struct mmsghdr msgs[MSGS];
  struct iovec iov[MSGS];
  char ctl[MSGS][CMSG_SPACE(sizeof(int))];
  long datagrams = 0, calls = 0;
  double t0 = now(), c0 = cpu();
  struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, -1) < 0) die("poll");
    if (p[1].revents) break;  // stdin closed: the trial is over
    for (int i = 0; i < MSGS; i++) {
      iov[i].iov_base = slots[i];
      iov[i].iov_len = SLOT;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
    }
    int n = recvmmsg(fd, msgs, MSGS, MSG_DONTWAIT, NULL);
    if (n < 0) continue;
    calls++;
    for (int i = 0; i < n; i++) {
      int gso = 0;
      struct msghdr *h = &msgs[i].msg_hdr;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&gso, CMSG_DATA(c), sizeof gso);
      unsigned len = msgs[i].msg_len;
      datagrams += gso > 0 && (unsigned)gso < len ? (len + gso - 1) / gso : 1;
    }
  }
  (void)size;
  if (report)
    printf("{\"datagrams\":%ld,\"calls\":%ld,\"seconds\":%.6f,\"cpu\":%.6f}\n", datagrams, calls,
           now() - t0, cpu() - c0);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 5 && !strcmp(argv[1], "flood")) {
    int fd = udp_socket(0, 0);
    struct sockaddr_in to = peer(argv[2], atoi(argv[3]));
    printf("{\"ready\":true}\n");
    wait_go();
    long n = send_loop(fd, &to, -1, atoi(argv[4]), 1, 0, 0);
    printf("{\"sent\":%ld}\n", n);
  } else if (argc >= 5 && !strcmp(argv[1], "recv")) {
    int fd = udp_socket(atoi(argv[2]), atoi(argv[4]));
    printf("{\"ready\":true}\n");
    wait_go();
    recv_loop(fd, atoi(argv[3]), 1);
  } else if (argc >= 7 && !strcmp(argv[1], "send")) {
    int per_call = argc > 7 ? atoi(argv[7]) : 0, split = argc > 8 ? atoi(argv[8]) : 0;
    int fd = udp_socket(0, 0);
    struct sockaddr_in to = peer(argv[2], atoi(argv[3]));
    printf("{\"ready\":true}\n");
    wait_go();
    double t0 = now(), c0 = cpu();
    long n = send_loop(fd, &to, atol(argv[4]), atoi(argv[5]), atoi(argv[6]), per_call, split);
    printf("{\"datagrams\":%ld,\"seconds\":%.6f,\"cpu\":%.6f}\n", n, now() - t0, cpu() - c0);
  } else if (argc >= 3 && !strcmp(argv[1], "sink")) {
    int fd = udp_socket(atoi(argv[2]), 1);
    printf("{\"ready\":true}\n");
    recv_loop(fd, 0, 0);
  } else {
    fprintf(stderr, "usage: see the top of udpbench.c\n");
    return 2;
  }
  return 0;
}
