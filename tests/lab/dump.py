#!/usr/bin/env python3
"""Print the facts needed to hand-write a fixture's .expect.json.

    python3 tests/lab/dump.py tests/fixtures/SCENARIO.pcap

Uses tshark only to split frames into TCP fields (no RDP dissection), then walks
each TCP connection (one 4-tuple, from its SYN) and decodes the first TPKT/X.224
PDU in each direction by hand (MS-RDPBCGR 2.2.1.1 / 2.2.1.2). It is a reading aid
for the person writing the sidecar, not the oracle: check what it prints against
`tshark -V` before putting it in a sidecar.
"""
import subprocess
import sys

PROTO_BITS = [(0x1, "SSL"), (0x2, "HYBRID"), (0x4, "RDSTLS"), (0x8, "HYBRID_EX"), (0x10, "RDSAAD")]
PROTO_SELECTED = {0: "RDP", 1: "SSL", 2: "HYBRID", 4: "RDSTLS", 8: "HYBRID_EX", 0x10: "RDSAAD"}
FAILURES = {1: "SSL_REQUIRED_BY_SERVER", 2: "SSL_NOT_ALLOWED_BY_SERVER", 3: "SSL_CERT_NOT_ON_SERVER",
            4: "INCONSISTENT_FLAGS", 5: "HYBRID_REQUIRED_BY_SERVER", 6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER"}
FIELDS = ["frame.number", "frame.time_relative", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
          "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.payload", "icmp.type"]


def frames(path):
    cmd = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
           "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        v = line.split("\t")
        v += [""] * (len(FIELDS) - len(v))
        yield dict(zip(FIELDS, v))


def flags_str(fl):
    names = [(0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH")]
    return "|".join(n for b, n in names if fl & b)


def decode_cr(data):
    """X.224 Connection Request inside TPKT."""
    if len(data) < 11 or data[0] != 3:
        return {"error": "not TPKT v3"}
    tpkt_len = int.from_bytes(data[2:4], "big")
    li, code = data[4], data[5]
    res = {"tpktLength": tpkt_len, "x224Code": hex(code)}
    body = data[11:tpkt_len]
    cookie = None
    if body.startswith(b"Cookie: mstshash="):
        end = body.find(b"\r\n")
        cookie = body[len(b"Cookie: mstshash="):end].decode("latin1")
        body = body[end + 2:]
    elif body.startswith(b"Cookie: msts="):
        end = body.find(b"\r\n")
        res["routingToken"] = body[:end].decode("latin1")
        body = body[end + 2:]
    res["cookie"] = cookie
    if len(body) >= 8 and body[0] == 0x01:
        req = int.from_bytes(body[4:8], "little")
        res["negReq"] = {"flags": hex(body[1]), "length": int.from_bytes(body[2:4], "little"),
                         "requestedProtocols": hex(req)}
        res["requestedProtocols"] = [n for b, n in PROTO_BITS if req & b] or ["RDP"]
    else:
        res["negReq"] = None
        res["requestedProtocols"] = ["RDP (implicit: no RDP_NEG_REQ)"]
    res["rest"] = body[8:].hex() if len(body) > 8 else ""
    return res


def decode_cc(data):
    if len(data) < 11 or data[0] != 3:
        return {"error": "not TPKT v3", "hex": data[:32].hex()}
    tpkt_len = int.from_bytes(data[2:4], "big")
    code = data[5]
    res = {"tpktLength": tpkt_len, "x224Code": hex(code)}
    if code & 0xF0 != 0xD0:
        res["note"] = "not a Connection Confirm"
        res["hex"] = data[:tpkt_len].hex()
        return res
    body = data[11:tpkt_len]
    if len(body) >= 8 and body[0] == 0x02:
        sel = int.from_bytes(body[4:8], "little")
        res["negRsp"] = {"flags": hex(body[1]), "selectedProtocol": hex(sel)}
        res["selectedProtocol"] = PROTO_SELECTED.get(sel, hex(sel))
    elif len(body) >= 8 and body[0] == 0x03:
        code_ = int.from_bytes(body[4:8], "little")
        res["negFailure"] = {"flags": hex(body[1]), "failureCode": hex(code_)}
        res["failureCode"] = FAILURES.get(code_, hex(code_))
    else:
        res["negData"] = None
    return res


def classify(data):
    if not data:
        return ""
    if data[0] == 3 and len(data) >= 7:
        code = data[5]
        if code == 0xF0 and len(data) > 8:
            b = data[7]
            if b == 0x7F and data[8] == 0x65:
                return "TPKT X.224-DT MCS Connect-Initial"
            if b == 0x7F and data[8] == 0x66:
                return "TPKT X.224-DT MCS Connect-Response"
            return "TPKT X.224-DT MCS pdu 0x%02x" % b
        return "TPKT X.224 code 0x%02x" % code
    if data[0] in (0x14, 0x15, 0x16, 0x17) and data[1] == 3:
        kinds = {0x14: "ChangeCipherSpec", 0x15: "Alert", 0x16: "Handshake", 0x17: "AppData"}
        extra = ""
        if data[0] == 0x16 and len(data) > 5:
            extra = {1: " ClientHello", 2: " ServerHello"}.get(data[5], "")
        return "TLS %s%s" % (kinds[data[0]], extra)
    if data[0] == 0x30:
        return "DER (CredSSP TSRequest?)"
    return "data %s" % data[:8].hex()


def main(path):
    conns = {}
    order = []
    other = []
    for f in frames(path):
        if not f["tcp.srcport"] or f["icmp.type"]:
            other.append(f)
            continue
        a = (f["ip.src"], int(f["tcp.srcport"]))
        b = (f["ip.dst"], int(f["tcp.dstport"]))
        key = (a, b) if b[1] == 3389 else (b, a)
        if key not in conns:
            conns[key] = []
            order.append(key)
        conns[key].append(f)
    if other:
        for o in other:
            print("non-TCP frame #%s %9.6f %s -> %s icmp.type=%s (quoted TCP %s -> %s)" % (
                o["frame.number"], float(o["frame.time_relative"]), o["ip.src"], o["ip.dst"], o["icmp.type"] or "-",
                o["tcp.srcport"] or "-", o["tcp.dstport"] or "-"))
    for i, key in enumerate(order, 1):
        cli, srv = key
        print("=== connection %d  client %s:%d  server %s:%d" % (i, cli[0], cli[1], srv[0], srv[1]))
        c2s = bytearray()
        s2c = bytearray()
        cr = cc = None
        for f in conns[key]:
            fl = int(f["tcp.flags"], 16)
            frm = "c->s" if (f["ip.src"], int(f["tcp.srcport"])) == cli else "s->c"
            payload = bytes.fromhex(f["tcp.payload"]) if f["tcp.payload"] else b""
            what = ""
            if payload:
                what = classify(payload)
                if frm == "c->s":
                    if not c2s and cr is None:
                        cr = (f["frame.number"], payload)
                    c2s += payload
                else:
                    if not s2c and cc is None:
                        cc = (f["frame.number"], payload)
                    s2c += payload
            print("  #%-4s %9.6f %s %-12s seq=%s ack=%s len=%s %s" % (
                f["frame.number"], float(f["frame.time_relative"]), frm, flags_str(fl),
                f["tcp.seq_raw"], f["tcp.ack_raw"], f["tcp.len"], what))
        if cr:
            print("  CR frame %s: %s" % (cr[0], decode_cr(cr[1])))
        if cc:
            print("  first s->c payload frame %s: %s" % (cc[0], decode_cc(cc[1])))
        print("  bytes c->s=%d s->c=%d" % (len(c2s), len(s2c)))


if __name__ == "__main__":
    main(sys.argv[1])
