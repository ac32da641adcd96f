#!/usr/bin/env python3
"""Replay one side of a recorded TCP connection over a real socket.

The capture's first TCP connection to --port is cut into turns (consecutive payload of one
direction, retransmissions removed by sequence number). The two roles take turns: the side
whose turn it is sends its recorded bytes; the other reads exactly that many. After the last
turn the side that closed first in the recording closes (FIN); the other closes when it sees
end of stream. The bytes are replayed verbatim: a TLS handshake replayed this way is not a
working TLS session, but on the wire it is the recorded one, which is what an analyzer sees.

  replay_peer.py --pcap F --role server --listen 10.0.0.2 [--port 3389]
  replay_peer.py --pcap F --role client --connect 10.0.0.2 [--port 3389]

Classic pcap only (Ethernet, raw IP, Linux SLL), IPv4 or IPv6; stdlib only.
"""
import argparse
import socket
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            endian = ">"
        else:
            sys.exit(f"{path}: not a classic pcap file")
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(endian + "I", rec[8:12])[0]
            yield linktype, f.read(incl)


def ip_payload(linktype, frame):
    if linktype == 1:  # Ethernet, with 802.1Q tags
        off, etype = 14, struct.unpack(">H", frame[12:14])[0]
        while etype in (0x8100, 0x88A8):
            etype, off = struct.unpack(">H", frame[off + 2:off + 4])[0], off + 4
        return frame[off:]
    if linktype == 113:  # Linux SLL
        return frame[16:]
    if linktype in (101, 228, 229):
        return frame
    sys.exit(f"link type {linktype} not supported")


def tcp_segments(path, port):
    for linktype, frame in packets(path):
        ip = ip_payload(linktype, frame)
        if not ip:
            continue
        version = ip[0] >> 4
        if version == 4 and ip[9] == 6:
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            tcp, end = ip[ihl:], total - ihl
        elif version == 6 and ip[6] == 6:
            tcp, end = ip[40:], struct.unpack(">H", ip[4:6])[0]
        else:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        flags = tcp[13]
        data_off = (tcp[12] >> 4) * 4
        payload = tcp[data_off:end]
        if port in (sport, dport):
            yield sport, dport, seq, flags, payload


def turns(path, port):
    """[(from_client, bytes)], first closer ('client'|'server'|None)."""
    result, client_port, next_seq, closer = [], None, {}, None
    for sport, dport, seq, flags, payload in tcp_segments(path, port):
        from_client = dport == port
        cport = sport if from_client else dport
        if client_port is None:
            if not (flags & 0x02):
                continue  # wait for the first SYN
            client_port = cport
        if cport != client_port:
            continue
        if flags & 0x02:  # SYN takes one sequence number
            next_seq[from_client] = (seq + 1) & 0xFFFFFFFF
            continue
        expected = next_seq.get(from_client, seq)
        skip = (expected - seq) & 0xFFFFFFFF
        if skip < 0x80000000 and skip > 0:
            payload = payload[skip:] if skip < len(payload) else b""
            seq = expected
        if payload:
            next_seq[from_client] = (seq + len(payload)) & 0xFFFFFFFF
            if result and result[-1][0] == from_client:
                result[-1] = (from_client, result[-1][1] + payload)
            else:
                result.append((from_client, payload))
        if flags & 0x05 and closer is None:  # FIN or RST
            closer = "client" if from_client else "server"
    return result, closer


def read_exactly(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            return False
        got += len(chunk)
    return True


def play(sock, script, closer, role):
    me_client = role == "client"
    for from_client, data in script:
        if from_client == me_client:
            sock.sendall(data)
        elif not read_exactly(sock, len(data)):
            break  # the peer closed early
    if closer == role:
        sock.shutdown(socket.SHUT_WR)
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--role", choices=("client", "server"), required=True)
    ap.add_argument("--listen")
    ap.add_argument("--connect")
    ap.add_argument("--port", type=int, default=3389)
    a = ap.parse_args()
    script, closer = turns(a.pcap, a.port)
    if not script and a.role == "server":
        sys.exit(f"{a.pcap}: no TCP payload on port {a.port}")
    if a.role == "server":
        family = socket.AF_INET6 if ":" in a.listen else socket.AF_INET
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((a.listen, a.port))
        srv.listen(1)
        print("listening", flush=True)
        conn, _ = srv.accept()
        play(conn, script, closer, "server")
        srv.close()
    else:
        family = socket.AF_INET6 if ":" in a.connect else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.connect((a.connect, a.port))  # a recording without payload: connecting is the whole script
        play(sock, script, closer or "client", "client")


if __name__ == "__main__":
    main()
