"""A plain-TCP roll call on the coordinator port before JAX's coordination service starts.

JAX's service aborts the process (SIGABRT, no exception, no cleanup) when a peer never arrives or
the port is taken. Meeting once over an ordinary socket first finds both faults while they can
still be reported as a `PhasicError`; the socket is closed again before JAX binds the same port.
"""

from __future__ import annotations

import socket
import time

from .._errors import PhasicError

__all__ = ["roll_call"]

_HELLO = "phasic-rendezvous"
_GO = b"go\n"


def roll_call(address: str, rank: int, nproc: int, job: str | None, timeout: float) -> None:
    """Block until all ``nproc`` processes of this job have checked in at ``address``.

    Process 0 listens on the coordinator port and answers once every rank has said hello; the
    others connect, say hello and wait for the answer.

    Raises
    ------
    PhasicError
        The port is in use on the coordinator, a process did not check in within ``timeout``
        seconds (the message names which), or nothing that answers like phasic listens there.
    """
    host, port = address.rsplit(":", 1)
    hello = f"{_HELLO} {job} {nproc}"
    if rank == 0:
        _host(int(port), hello, nproc, timeout)
    else:
        _join(host, int(port), f"{hello} {rank}\n", rank, timeout)


def _host(port: int, hello: str, nproc: int, timeout: float) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("", port))
    except OSError as exc:
        server.close()
        raise PhasicError(
            f"process 0 cannot listen on coordinator port {port} ({exc}): another program uses "
            "it; choose another coordinator_port (or PHASIC_COORDINATOR_PORT)"
        ) from None
    peers: dict[int, socket.socket] = {}
    deadline = time.monotonic() + timeout
    try:
        server.listen(max(nproc, 8))
        while len(peers) < nproc - 1:
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(range(1, nproc)) - set(peers))
                raise PhasicError(
                    f"process 0 waited {timeout} s for the other processes of the job on port "
                    f"{port}, but process(es) {_ranges(missing)} of {nproc} never checked in: "
                    "check that all tasks started (srun, SLURM_NTASKS) and can reach this node, "
                    "or raise initialize_distributed's timeout"
                )
            server.settimeout(min(left, 1.0))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            r = _read_hello(conn, hello, nproc, min(left, 5.0))
            if r is None or r in peers:
                conn.close()  # a stranger or a repeated rank: not one of ours
                continue
            peers[r] = conn
        for conn in peers.values():
            conn.sendall(_GO)
        for conn in peers.values():
            # The peers close first, so the closed connections' TIME_WAIT does not hold the port
            # that JAX binds next.
            conn.settimeout(5.0)
            try:
                conn.recv(1)
            except OSError:
                pass
    finally:
        for conn in peers.values():
            conn.close()
        server.close()


def _read_hello(conn: socket.socket, hello: str, nproc: int, timeout: float) -> int | None:
    """The rank a newly accepted connection announces; None when it is not a peer of this job."""
    conn.settimeout(timeout)
    try:
        line = conn.recv(256).decode("ascii", "replace").strip()
    except OSError:
        return None
    head, _, rank = line.rpartition(" ")
    if head != hello or not rank.isdigit() or not 0 < int(rank) < nproc:
        return None
    return int(rank)


def _join(host: str, port: int, hello: str, rank: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            conn = socket.create_connection((host, port), timeout=2)
        except OSError as exc:
            last = exc
            time.sleep(0.25)
            continue
        try:
            conn.sendall(hello.encode("ascii"))
            conn.settimeout(max(deadline - time.monotonic(), 0.1))
            if conn.recv(len(_GO)) == _GO:
                return
            last = ConnectionError("the listener closed without answering")
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(0.25)
    raise PhasicError(
        f"process {rank} found no phasic coordinator at {host}:{port} within {timeout} s "
        f"({last}); check that process 0 started on {host}, that port {port} is open there and "
        "used by no other program, or choose another coordinator_port"
    )


def _ranges(ranks: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``'1-3, 7'`` (a job of thousands names its missing ranks briefly)."""
    out: list[str] = []
    for r in ranks:
        if out and out[-1].split("-")[-1] == str(r - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{r}"
        else:
            out.append(str(r))
    return ", ".join(out)
