// lwIP's TCP send buffer on the virtual ESP8266.
//
// On the chip a TCP socket holds at most TCP_SND_BUF bytes that the peer has
// not acknowledged: MicroPython's ESP8266 port links esp-open-lwip as
// esp-open-sdk builds it (submodule pinned at 8c39d21, branch
// sdk-1.5.0-experimental), whose include/lwipopts.h sets TCP_MSS 536 and
// TCP_SND_BUF (2 * TCP_MSS) = 1,072 B. extmod/modlwip.c's lwip_tcp_send()
// writes min(tcp_sndbuf(), len); with no room a non-blocking socket gets
// EAGAIN, a blocking one waits for at least 16 B of room and fails with
// ETIMEDOUT when its timeout runs out (none: it waits for ever).
//
// Here a socket is the host kernel's, which takes hundreds of KB. A build
// patch routes the unix port's socket write() and send() (ports/unix/
// modsocket.c) through vboard_tcp_write/send, which do what lwip_tcp_send()
// does with the kernel's count of bytes not yet acknowledged (SIOCOUTQ:
// unsent plus unacknowledged) in place of lwIP's. The call sits between
// MP_THREAD_GIL_EXIT and ENTER, so its time (waiting included) is the chip's
// C, not the firmware's bytecode (vboard_clock.c). Sockets other than TCP
// over IP (the HAL's Unix-socket links to the rig) are written as before.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <netinet/in.h>

#define VBOARD_TCP_MSS (536)
#define VBOARD_TCP_SND_BUF (2 * VBOARD_TCP_MSS)
// modlwip.c: "Avoid sending too small packets, so wait until at least 16 bytes available".
#define VBOARD_TCP_MIN_ROOM (16)
// How often a blocked write looks at the queue again. lwIP learns of an ACK
// when it arrives; nothing signals the host's, so it is polled.
#define VBOARD_TCP_POLL_MS (2)

static int is_tcp(int fd) {
    int type = 0, domain = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        return 0;
    }
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
        return 0;
    }
    return domain == AF_INET || domain == AF_INET6;
}

// tcp_sndbuf(): the room lwIP would have, or -1 when the kernel cannot say.
static int snd_room(int fd) {
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) != 0) {
        return -1;
    }
    return queued >= VBOARD_TCP_SND_BUF ? 0 : VBOARD_TCP_SND_BUF - queued;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// How many of len bytes lwIP would take now: > 0, or -1 with errno set
// (EAGAIN: non-blocking and full; ETIMEDOUT: the socket's timeout ran out;
// EINTR: a signal, which the caller's retry loop handles). 0: the kernel
// cannot say (not connected yet, or broken), so the write itself reports it.
static ssize_t lwip_room(int fd, size_t len) {
    int room = snd_room(fd);
    if (room != 0) {
        return room < 0 ? 0 : ((size_t)room < len ? room : (ssize_t)len);
    }
    if (fcntl(fd, F_GETFL) & O_NONBLOCK) {
        errno = EAGAIN;
        return -1;
    }
    // settimeout() sets SO_SNDTIMEO on the unix port; zero means no timeout.
    struct timeval tv = {0, 0};
    socklen_t tl = sizeof(tv);
    getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tl);
    int64_t timeout = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    int64_t start = now_ms();
    while ((room = snd_room(fd)) >= 0 && room < VBOARD_TCP_MIN_ROOM) {
        if (timeout > 0 && now_ms() - start > timeout) {
            errno = ETIMEDOUT;
            return -1;
        }
        // Wakes early on an error or a hang-up: the write then reports it.
        struct pollfd p = {fd, 0, 0};
        int r = poll(&p, 1, VBOARD_TCP_POLL_MS);
        if (r < 0) {
            return -1;  // EINTR: Ctrl-C
        }
        if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            return 0;
        }
    }
    return room <= 0 ? 0 : ((size_t)room < len ? room : (ssize_t)len);
}

ssize_t vboard_tcp_write(int fd, const void *buf, size_t len) {
    if (len == 0 || !is_tcp(fd)) {
        return write(fd, buf, len);
    }
    ssize_t n = lwip_room(fd, len);
    if (n < 0) {
        return -1;
    }
    return write(fd, buf, n > 0 ? (size_t)n : len);
}

ssize_t vboard_tcp_send(int fd, const void *buf, size_t len, int flags) {
    if (len == 0 || !is_tcp(fd)) {
        return send(fd, buf, len, flags);
    }
    ssize_t n = lwip_room(fd, len);
    if (n < 0) {
        return -1;
    }
    return send(fd, buf, n > 0 ? (size_t)n : len, flags);
}
