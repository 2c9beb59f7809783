/* pktgen: the capture tests' traffic.  Sends Ethernet/IPv4/UDP frames out
 * of one interface through a packet socket, each carrying a sequence
 * number, at a given rate, in a mix of sizes (64 to 1514 bytes), for a
 * count or a time.
 *
 *   pktgen IFACE RATE COUNT [SIZE]
 *
 * RATE packets per second (0: as fast as the socket takes them); SIZE a
 * fixed frame size instead of the mix.  Prints "sent N in S s" at the end.
 * The frame: broadcast destination, source 02:00:00:00:00:01, IPv4 from
 * 10.77.0.1 to 10.77.0.2, UDP from 7777 to 7778, payload "PKXG" followed
 * by the 8-byte big-endian sequence number (from 0), then filler. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static const unsigned mix[] = {64,   1514, 128,  576, 1514, 64, 256,
                               1024, 64,   1514, 512, 1280, 64, 1514};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint16_t ip_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t frame(uint8_t *f, uint64_t seq, unsigned size)
{
	static const uint8_t head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
	                               0,    0,    0,    0,    1,    0x08, 0};
	uint16_t iplen = (uint16_t)(size - 14), udplen = (uint16_t)(size - 34);
	uint8_t *ip = f + 14, *udp = f + 34;
	uint16_t sum;
	int i;

	memcpy(f, head, sizeof(head));
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(iplen >> 8);
	ip[3] = (uint8_t)iplen;
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 10, ip[13] = 77, ip[14] = 0, ip[15] = 1;
	ip[16] = 10, ip[17] = 77, ip[18] = 0, ip[19] = 2;
	sum = ip_sum(ip, 20);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	udp[0] = 7777 >> 8, udp[1] = 7777 & 0xff;
	udp[2] = 7778 >> 8, udp[3] = 7778 & 0xff;
	udp[4] = (uint8_t)(udplen >> 8), udp[5] = (uint8_t)udplen;
	udp[6] = udp[7] = 0;
	memcpy(udp + 8, "PKXG", 4);
	for (i = 0; i < 8; i++)
		udp[12 + i] = (uint8_t)(seq >> (56 - 8 * i));
	memset(udp + 20, (int)(seq & 0xff), size - 54);
	return size;
}

int main(int argc, char **argv)
{
	static uint8_t frames[BATCH][1514];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sll;
	uint64_t rate, count, seq = 0, t0, next;
	unsigned fixed = 0;
	int fd, one = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: pktgen IFACE RATE COUNT [SIZE]\n");
		return 2;
	}
	rate = strtoull(argv[2], NULL, 10);
	count = strtoull(argv[3], NULL, 10);
	if (argc == 5) {
		fixed = (unsigned)strtoul(argv[4], NULL, 10);
		if (fixed < 60 || fixed > 1514) {
			fprintf(stderr, "pktgen: SIZE is 60 to 1514\n");
			return 2;
		}
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("pktgen: packet socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "pktgen: no interface %s\n", argv[1]);
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		perror("pktgen: bind");
		return 1;
	}
	/* Straight to the driver: the qdisc would drop under a burst. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	t0 = now_ns();
	next = t0;
	while (seq < count) {
		unsigned n = 0, i;
		int sent;

		while (n < BATCH && seq + n < count) {
			unsigned size =
			    fixed
			        ? fixed
			        : mix[(seq + n) % (sizeof(mix) / sizeof(*mix))];

			iov[n].iov_base = frames[n];
			iov[n].iov_len = frame(frames[n], seq + n, size);
			memset(&msgs[n], 0, sizeof(msgs[n]));
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		if (rate) {
			uint64_t t;

			next += (uint64_t)n * 1000000000u / rate;
			while ((t = now_ns()) < next)
				if (next - t > 200000) {
					struct timespec d = {
					    0, (long)(next - t - 100000)};

					nanosleep(&d, NULL);
				}
		}
		for (i = 0; i < n;) {
			sent = sendmmsg(fd, msgs + i, n - i, 0);
			if (sent < 0) {
				if (errno == ENOBUFS || errno == EAGAIN ||
				    errno == EINTR)
					continue;
				perror("pktgen: send");
				return 1;
			}
			i += (unsigned)sent;
		}
		seq += n;
	}
	printf("sent %llu in %.3f s\n", (unsigned long long)seq,
	       (double)(now_ns() - t0) / 1e9);
	return 0;
}
