"""A listening socket per API worker process, in one SO_REUSEPORT group (Linux).

uvicorn's supervisor binds one socket and hands it to every worker. Each worker's event
loop then accepts *every* pending connection when it wakes (libuv accepts until the queue is
empty), so which worker holds a client's keep-alive connection is a race, and the race is
lopsided: under `fleetpilot bench api` (2 workers, 50 clients) one worker held 43 of the 50
connections and the other 7 (counted per worker process with psutil while the run was on,
6 Dec). A worker is one Python process, so the busy one queued its 43 clients while the
other idled, and the p95 latency was the busy worker's (`./fp bench api --reuse <10 x 7
fleet> --only driver_who_am_i,driver_access_log --requests 6000`, load 15.9-16.5: who-am-I
p50 15.9 ms, p95 473 ms). With a socket per worker the same run split 30/20 and 25/25.

With a socket of its own per worker, all bound to the address with SO_REUSEPORT, the kernel
picks the worker of each new connection by a hash of its addresses and ports: as many
connections per worker as chance gives (for 50, 25 ± 3.5), none left to a race.
"""

from __future__ import annotations

import socket
import sys


def supported() -> bool:
    """SO_REUSEPORT spreads connections over a group's sockets on Linux only (BSDs and
    macOS hand them all to the last socket bound)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bound(family: int, address: tuple, cls: type[socket.socket] = socket.socket) -> socket.socket:
    sock = cls(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def worker_socket(family: int, address: tuple) -> socket.socket:
    """A worker's own socket on `address` (the worker's server makes it listen)."""
    return _bound(family, address)


class ReusePortSocket(socket.socket):
    """The server's address, bound with SO_REUSEPORT but never listening (a listening socket
    nobody accepts on would keep its share of the connections waiting). Sent to a worker
    process (uvicorn's supervisor pickles the sockets it passes), it arrives there as that
    worker's own socket on the same address (`worker_socket`): every worker, a restarted one
    too, listens on a socket of its own. Bound first here, so a port in use fails the start
    at once, and port 0 is resolved once for all workers."""

    def __reduce__(self):
        return (worker_socket, (self.family, self.getsockname()))


def reuse_port_socket(host: str, port: int) -> ReusePortSocket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _bound(family, (host, port), ReusePortSocket)
    assert isinstance(sock, ReusePortSocket)
    return sock
