"""Wire probes: is a server up and answering its own protocol (not just listening)."""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request

from launcher.common import HOST


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return bytes(buf)


def probe_kafka(port: int, timeout: float = 3.0) -> str:
    """Kafka Metadata v1 request; healthy when the broker lists itself and a controller.

    Returns a short description; raises OSError/ValueError when not healthy.
    """
    client_id = b"chatstream-probe"
    # header: api_key=3 (Metadata), api_version=1, correlation_id, client_id; body: topics=[]
    body = struct.pack(">hhih", 3, 1, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        resp = _recv_exact(sock, size)
    corr, n_brokers = struct.unpack_from(">ii", resp, 0)
    if corr != 7:
        raise ValueError(f"unexpected correlation id {corr}")
    pos = 8
    for _ in range(n_brokers):
        pos += 4  # node_id
        (hlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + hlen + 4  # host, port
        (rlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + max(rlen, 0)  # rack (nullable)
    (controller,) = struct.unpack_from(">i", resp, pos)
    if n_brokers < 1 or controller < 0:
        raise ValueError(f"broker not ready (brokers={n_brokers}, controller={controller})")
    return f"brokers={n_brokers} controller={controller}"


def _cql_frame(stream: int, opcode: int, body: bytes) -> bytes:
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def _cql_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def _cql_read(sock: socket.socket) -> tuple[int, bytes]:
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    body = _recv_exact(sock, length)
    if opcode == 0x00:  # ERROR: [int code][string message]
        (code,) = struct.unpack_from(">i", body, 0)
        (mlen,) = struct.unpack_from(">H", body, 4)
        raise ValueError(f"CQL error {code:#x}: {body[6 : 6 + mlen].decode('utf-8', 'replace')}")
    return opcode, body


def probe_cassandra(port: int, timeout: float = 3.0) -> str:
    """CQL native protocol v4: STARTUP, then SELECT release_version FROM system.local."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        startup = struct.pack(">H", 1) + _cql_string("CQL_VERSION") + _cql_string("3.0.0")
        sock.sendall(_cql_frame(0, 0x01, startup))
        opcode, _ = _cql_read(sock)
        if opcode == 0x03:  # AUTHENTICATE: the node answers CQL; good enough
            return "version=? (authentication required)"
        if opcode != 0x02:  # READY
            raise ValueError(f"unexpected CQL opcode {opcode:#x} after STARTUP")
        query = b"SELECT release_version FROM system.local"
        # [long string query][short consistency=ONE][byte flags=0]
        sock.sendall(
            _cql_frame(1, 0x07, struct.pack(">i", len(query)) + query + struct.pack(">HB", 1, 0))
        )
        opcode, body = _cql_read(sock)
    if opcode != 0x08:
        raise ValueError(f"unexpected CQL opcode {opcode:#x} after QUERY")
    kind, flags, n_cols = struct.unpack_from(">iii", body, 0)
    if kind != 2:
        raise ValueError(f"unexpected CQL result kind {kind}")
    pos = 12

    def skip_string() -> None:
        nonlocal pos
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2 + n

    if flags & 0x0002:  # has_more_pages: paging state [bytes]
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4 + max(n, 0)
    if not flags & 0x0004:  # metadata present
        global_spec = bool(flags & 0x0001)
        if global_spec:
            skip_string()
            skip_string()
        for _ in range(n_cols):
            if not global_spec:
                skip_string()
                skip_string()
            skip_string()  # column name
            pos += 2  # type id (varchar: no extra)
    (rows,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if rows < 1:
        raise ValueError("system.local is empty")
    (n,) = struct.unpack_from(">i", body, pos)
    return "version=" + body[pos + 4 : pos + 4 + n].decode()


def probe_weaviate(port: int, grpc_port: int, timeout: float = 3.0) -> str:
    url = f"http://{HOST}:{port}"
    with urllib.request.urlopen(f"{url}/v1/.well-known/ready", timeout=timeout) as resp:
        if resp.status != 200:
            raise ValueError(f"ready returned HTTP {resp.status}")
    with socket.create_connection((HOST, grpc_port), timeout=timeout):
        pass
    with urllib.request.urlopen(f"{url}/v1/meta", timeout=timeout) as resp:
        version = json.load(resp).get("version", "?")
    return f"version={version}"


