#!/usr/bin/env python3
"""Print the facts needed to hand-write a fixture's .expect.json.

    python3 tests/lab/dump.py tests/fixtures/SCENARIO.pcap [--keylog TLS-KEYS.LOG]

Uses tshark only to split frames into TCP fields (no RDP dissection), then walks
each TCP connection (one 4-tuple, from its SYN) and decodes the first TPKT/X.224
PDU in each direction by hand (MS-RDPBCGR 2.2.1.1 / 2.2.1.2), then the TLS records that
follow (per direction, reassembled by sequence number, retransmissions dropped): record
types, unencrypted handshake messages (ClientHello versions/SNI/suites, ServerHello
version/suite, the Certificate chain's subject/issuer/validity via python3-cryptography
or openssl) and alerts (level/description, or "ENCRYPTED"). It is a reading aid
for the person writing the sidecar, not the oracle: check what it prints against
`tshark -V` before putting it in a sidecar.

--keylog FILE (the NSS key log of a KEYLOG=1 run, or a fixture's NAME.keylog): TLS 1.3 and
TLS 1.2 records are decrypted (python3-cryptography; AES-GCM / ChaCha20-Poly1305 suites only,
TLS 1.2 from the CLIENT_RANDOM master secret) and each encrypted record is annotated with its
inner content: handshake message types, alert level/description, or data. Useful where tshark
gives up (TLS after the X.224 negotiation, or streams with retransmissions re-cut at a different
size, as in the path-MTU fixtures). When the decrypted data are CredSSP (HYBRID: the TLS payload
is a series of DER TSRequests), each TSRequest is listed in stream order with the frame(s) and
TLS record(s) that carried it, its version, the NTLM message inside negoTokens (type; the
AUTHENTICATE's domain/user/workstation), pubKeyAuth / authInfo / clientNonce sizes and errorCode.
"""
import subprocess
import sys

PROTO_BITS = [(0x1, "SSL"), (0x2, "HYBRID"), (0x4, "RDSTLS"), (0x8, "HYBRID_EX"), (0x10, "RDSAAD")]
PROTO_SELECTED = {0: "RDP", 1: "SSL", 2: "HYBRID", 4: "RDSTLS", 8: "HYBRID_EX", 0x10: "RDSAAD"}
FAILURES = {1: "SSL_REQUIRED_BY_SERVER", 2: "SSL_NOT_ALLOWED_BY_SERVER", 3: "SSL_CERT_NOT_ON_SERVER",
            4: "INCONSISTENT_FLAGS", 5: "HYBRID_REQUIRED_BY_SERVER", 6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER"}
FIELDS = ["frame.number", "frame.time_relative", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
          "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.payload", "icmp.type",
          "ip.id", "ip.flags.mf", "ip.frag_offset", "ip.len"]


def is_fragment(f):
    return f["ip.flags.mf"] in ("1", "True") or f["ip.frag_offset"] not in ("", "0")


def first_fragment_tcp(path):
    """TCP header fields of first IP fragments (tshark with reassembly off): frame -> fields."""
    cmd = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
           "-o", "ip.defragment:FALSE", "-Y", "ip.flags.mf==1 && ip.frag_offset==0 && tcp"]
    names = ["frame.number", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw"]
    for n in names:
        cmd += ["-e", n]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {v[0]: dict(zip(names, v)) for v in (line.split("\t") for line in out.splitlines())}


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


# ---- TLS (reading aid for the "tls" object of a sidecar) ---------------------------------
TLS_VERSIONS = {0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1", 0x0303: "TLS1.2", 0x0304: "TLS1.3"}
CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256", 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA", 0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
}
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
          40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
          45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
          49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
          71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
          109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
          116: "certificate_required", 120: "no_application_protocol"}
HS_TYPES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions", 11: "Certificate",
            12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify",
            16: "ClientKeyExchange", 20: "Finished"}
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


class Stream:
    """One direction of a TCP connection, reassembled by sequence number (retransmissions dropped,
    segments that arrived out of order put back in place, bytes never captured left out)."""

    def __init__(self):
        self.segs = []     # (offset from the first payload's seq, arrival index, frame, payload)
        self.base = None
        self.next_off = None
        self.gaps = []     # (frame, bytes skipped): a segment that arrived beyond the next expected byte
        self._built = None

    def add(self, frame, seq, payload):
        if not payload:
            return
        if self.base is None:
            self.base = seq
        off = (seq - self.base) & 0xFFFFFFFF
        if off >= 0x80000000:          # before the first payload seen (arrived late)
            off -= 0x100000000
        if self.next_off is None:
            self.next_off = off
        if off > self.next_off:
            self.gaps.append((frame, off - self.next_off))
        self.next_off = max(self.next_off, off + len(payload))
        self.segs.append((off, len(self.segs), frame, payload))
        self._built = None

    def _build(self):
        if self._built is None:
            data = bytearray()
            chunks = []
            end = None
            for off, _, frame, payload in sorted(self.segs):
                if end is None:
                    end = off
                if off + len(payload) <= end:
                    continue               # retransmission of bytes we have
                if off > end:
                    end = off              # bytes never captured: left out
                piece = payload[end - off:]
                chunks.append((len(data), frame))
                data += piece
                end += len(piece)
            self._built = (data, chunks)
        return self._built

    @property
    def data(self):
        return self._build()[0]

    @property
    def chunks(self):
        return self._build()[1]

    def frame_at(self, off):
        f = None
        for o, fr in self.chunks:
            if o > off:
                break
            f = fr
        return f


def tls_records(st):
    """TLS records of a stream, after the first TPKT (the X.224 CR/CC)."""
    d = st.data
    pos = 0
    if len(d) >= 4 and d[0] == 3:
        pos = int.from_bytes(d[2:4], "big")
    recs = []
    while pos + 5 <= len(d) and d[pos] in (20, 21, 22, 23) and d[pos + 1] == 3:
        ln = int.from_bytes(d[pos + 3:pos + 5], "big")
        body = bytes(d[pos + 5:pos + 5 + ln])
        recs.append({"type": d[pos], "ver": int.from_bytes(d[pos + 1:pos + 3], "big"), "len": ln, "body": body,
                     "frame": st.frame_at(pos), "lastFrame": st.frame_at(min(pos + 5 + ln, len(d)) - 1),
                     "truncated": len(body) < ln})
        pos += 5 + ln
    return recs


def parse_exts(b):
    out = []
    p = 0
    while p + 4 <= len(b):
        t = int.from_bytes(b[p:p + 2], "big")
        ln = int.from_bytes(b[p + 2:p + 4], "big")
        out.append((t, b[p + 4:p + 4 + ln]))
        p += 4 + ln
    return out


def vname(v):
    if (v & 0x0F0F) == 0x0A0A:
        return "GREASE"
    return TLS_VERSIONS.get(v, hex(v))


def cert_facts(der):
    try:
        from cryptography import x509
        c = x509.load_der_x509_certificate(der)
    except Exception as e:  # cryptography missing or not parseable: fall back to openssl
        try:
            out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer", "-dates"],
                                 input=der, capture_output=True, check=True).stdout.decode()
            return {"openssl": out.strip().splitlines()}
        except Exception:
            return {"error": str(e)}
    res = {"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(),
           "notBefore": c.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "notAfter": c.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "selfSigned": c.subject == c.issuer,
           "signature": c.signature_hash_algorithm.name if c.signature_hash_algorithm else None,
           "keyBits": getattr(c.public_key(), "key_size", None)}
    try:
        res["san"] = [str(n.value) for n in c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except Exception:
        pass
    try:
        res["eku"] = [u._name for u in c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except Exception:
        pass
    return res


def flush_run(run):
    if len(run) > 5:
        run[2:-2] = ["    ... %d more ApplicationData records ..." % (len(run) - 4)]
    for line in run:
        print(line)
    run.clear()


# ---- TLS 1.3 decryption with a key log (--keylog) --------------------------------------
SUITE_AEAD = {0x1301: ("aesgcm", 16, "sha256"), 0x1302: ("aesgcm", 32, "sha384"), 0x1303: ("chacha", 32, "sha256")}


def read_keylog(path):
    keys = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                keys[(parts[0], parts[1].lower())] = bytes.fromhex(parts[2])
    return keys


def hkdf_expand_label(secret, label, length, hash_name):
    import hmac
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


class Tls13Decryptor:
    """One direction: handshake traffic secret until that side's Finished, then traffic secret 0."""

    def __init__(self, keys, client_random, suite, who):
        self.ok = suite in SUITE_AEAD
        if not self.ok:
            return
        self.kind, self.keylen, self.hash = SUITE_AEAD[suite]
        side = "CLIENT" if who == "client" else "SERVER"
        self.secrets = [keys.get((side + "_HANDSHAKE_TRAFFIC_SECRET", client_random)),
                        keys.get((side + "_TRAFFIC_SECRET_0", client_random))]
        self.ok = all(self.secrets)
        self.phase = 0
        self.seq = 0
        self.hs = bytearray()

    def _aead(self):
        secret = self.secrets[self.phase]
        key = hkdf_expand_label(secret, b"key", self.keylen, self.hash)
        iv = hkdf_expand_label(secret, b"iv", 12, self.hash)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        return (AESGCM(key) if self.kind == "aesgcm" else ChaCha20Poly1305(key)), iv

    def decrypt(self, rec):
        """-> (inner content type, plaintext) or None."""
        if not self.ok or rec["truncated"]:
            return None
        aead, iv = self._aead()
        nonce = bytes(a ^ b for a, b in zip(iv, self.seq.to_bytes(12, "big")))
        header = bytes([rec["type"]]) + rec["ver"].to_bytes(2, "big") + rec["len"].to_bytes(2, "big")
        try:
            plain = aead.decrypt(nonce, rec["body"], header)
        except Exception:
            return None
        self.seq += 1
        plain = plain.rstrip(b"\x00")
        if not plain:
            return None
        ctype, plain = plain[-1], plain[:-1]
        if ctype == 22 and self.phase == 0:
            self.hs += plain
            p = 0
            while p + 4 <= len(self.hs):
                ln = int.from_bytes(self.hs[p + 1:p + 4], "big")
                if p + 4 + ln > len(self.hs):
                    break
                if self.hs[p] == 20:   # this side's Finished: application traffic keys from the next record
                    self.phase, self.seq = 1, 0
                    break
                p += 4 + ln
        return ctype, plain


# TLS 1.2 AEAD suites: (cipher, key length, PRF hash, fixed IV length, explicit nonce length)
SUITE12_AEAD = {0xC02F: ("aesgcm", 16, "sha256", 4, 8), 0xC030: ("aesgcm", 32, "sha384", 4, 8),
                0xC02B: ("aesgcm", 16, "sha256", 4, 8), 0xC02C: ("aesgcm", 32, "sha384", 4, 8),
                0x009E: ("aesgcm", 16, "sha256", 4, 8), 0x009F: ("aesgcm", 32, "sha384", 4, 8),
                0x009C: ("aesgcm", 16, "sha256", 4, 8), 0x009D: ("aesgcm", 32, "sha384", 4, 8),
                0xCCA8: ("chacha", 32, "sha256", 12, 0), 0xCCA9: ("chacha", 32, "sha256", 12, 0),
                0xCCAA: ("chacha", 32, "sha256", 12, 0)}


def tls12_prf(secret, label, seed, length, hash_name):
    import hmac
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


class Tls12Decryptor:
    """One direction of a TLS 1.2 AEAD session: every record after that side's ChangeCipherSpec,
    sequence numbers from 0 (RFC 5246 6.2.3.3, RFC 5288 / RFC 7905 nonces)."""

    def __init__(self, keys, client_random, server_random, suite, who):
        ms = keys.get(("CLIENT_RANDOM", client_random))
        self.ok = suite in SUITE12_AEAD and ms is not None and server_random is not None
        if not self.ok:
            return
        self.kind, keylen, hash_name, ivlen, self.explicit = SUITE12_AEAD[suite]
        block = tls12_prf(ms, b"key expansion", server_random + bytes.fromhex(client_random),
                          2 * keylen + 2 * ivlen, hash_name)
        ck, sk = block[:keylen], block[keylen:2 * keylen]
        civ, siv = block[2 * keylen:2 * keylen + ivlen], block[2 * keylen + ivlen:]
        key, self.iv = (ck, civ) if who == "client" else (sk, siv)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        self.aead = AESGCM(key) if self.kind == "aesgcm" else ChaCha20Poly1305(key)
        self.seq = 0

    def decrypt(self, rec):
        """-> (content type, plaintext) or None."""
        if not self.ok or rec["truncated"]:
            return None
        body = rec["body"]
        if self.explicit:
            nonce, ct = self.iv + body[:self.explicit], body[self.explicit:]
        else:
            nonce = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))
            ct = body
        aad = self.seq.to_bytes(8, "big") + bytes([rec["type"]]) + rec["ver"].to_bytes(2, "big") + \
            (len(ct) - 16).to_bytes(2, "big")
        try:
            plain = self.aead.decrypt(nonce, ct, aad)
        except Exception:
            return None
        self.seq += 1
        return rec["type"], plain


# ---- CredSSP (MS-CSSP 2.2.1) inside the decrypted TLS data of a HYBRID connection ----------
def der_read(b, p):
    """-> (tag, value bytes, next position) of one DER TLV at p, or None."""
    if p + 2 > len(b):
        return None
    tag, ln, q = b[p], b[p + 1], p + 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or q + n > len(b):
            return None
        ln, q = int.from_bytes(b[q:q + n], "big"), q + n
    if q + ln > len(b):
        return None
    return tag, b[q:q + ln], q + ln


def der_children(b):
    out, p = [], 0
    while p < len(b):
        t = der_read(b, p)
        if t is None:
            break
        out.append(t[:2])
        p = t[2]
    return out


NTLM_TYPES = {1: "NEGOTIATE", 2: "CHALLENGE", 3: "AUTHENTICATE"}


def ntlm_facts(tok):
    if tok[:8] != b"NTLMSSP\x00" or len(tok) < 12:
        return "token %d bytes (not NTLMSSP: %s)" % (len(tok), tok[:8].hex())
    t = int.from_bytes(tok[8:12], "little")
    res = "NTLM %s (%d bytes)" % (NTLM_TYPES.get(t, t), len(tok))

    def field(off, unicode=True):
        if off + 8 > len(tok):
            return None
        ln, o = int.from_bytes(tok[off:off + 2], "little"), int.from_bytes(tok[off + 4:off + 8], "little")
        v = tok[o:o + ln]
        return v.decode("utf-16-le", "replace") if unicode else v
    if t == 2 and len(tok) >= 32:
        res += " flags=0x%08x serverChallenge=%s targetName=%r" % (
            int.from_bytes(tok[20:24], "little"), tok[24:32].hex(), field(12))
    elif t == 3 and len(tok) >= 64:
        nt = field(20, False) or b""
        res += " domain=%r user=%r workstation=%r NtChallengeResponse=%d bytes EncryptedRandomSessionKey=%d bytes" % (
            field(28), field(36), field(44), len(nt), len(field(52, False) or b""))
    return res


def credssp_summary(pieces):
    """pieces: per direction, [(frame, record length, plaintext)] of decrypted application data,
    in stream order. Prints each TSRequest with the frames and records that carried it."""
    items = []
    for who, recs in pieces.items():
        if not recs or recs[0][2][:1] != b"\x30":
            continue
        data = bytearray()
        spans = []      # (start offset, frame, record length)
        for frame, rlen, plain in recs:
            spans.append((len(data), frame, rlen))
            data += plain
        p = 0
        while p < len(data):
            t = der_read(bytes(data), p)
            if t is None or t[0] != 0x30:
                first = [f for i, (o, f, _) in enumerate(spans)
                         if (spans[i + 1][0] if i + 1 < len(spans) else len(data)) > p][0]
                what = "bytes of X.224/MCS data (TPKT): CredSSP is over" if data[p] == 3 else \
                    "bytes that are not a complete TSRequest: %s" % bytes(data[p:p + 16]).hex()
                items.append((first, who, "  %s from frame %s on: %d %s" % (who, first, len(data) - p, what)))
                break
            end = t[2]
            carried = [(f, rl) for i, (o, f, rl) in enumerate(spans)
                       if o < end and (spans[i + 1][0] if i + 1 < len(spans) else len(data)) > p]
            facts = []
            for tag, val in der_children(t[1]):
                inner = der_read(val, 0)
                v = inner[1] if inner else b""
                if tag == 0xA0:
                    facts.append("version=%d" % int.from_bytes(v, "big"))
                elif tag == 0xA1:
                    for _, nd in der_children(v):            # NegoData: SEQUENCE OF SEQUENCE
                        for t2, tokw in der_children(nd):
                            tok = der_read(tokw, 0)
                            if t2 == 0xA0 and tok:
                                facts.append("negoToken " + ntlm_facts(tok[1]))
                elif tag == 0xA2:
                    facts.append("authInfo %d bytes" % len(v))
                elif tag == 0xA3:
                    facts.append("pubKeyAuth %d bytes" % len(v))
                elif tag == 0xA4:
                    code = int.from_bytes(v, "big", signed=True) & 0xFFFFFFFF
                    facts.append("errorCode 0x%08X%s" % (code, " (%s)" % NTSTATUS[code] if code in NTSTATUS else ""))
                elif tag == 0xA5:
                    facts.append("clientNonce %d bytes" % len(v))
                else:
                    facts.append("tag 0x%02x %d bytes" % (tag, len(v)))
            items.append((carried[0][0], who, "  %s TSRequest %d bytes in frame(s) %s, TLS record length(s) %s: %s" % (
                who, end - p, ",".join(str(f) for f, _ in carried), ",".join(str(rl) for _, rl in carried),
                "; ".join(facts))))
            p = end
    if items:
        print("  CredSSP (decrypted), in frame order:")
        for _, _, line in sorted(items, key=lambda x: (x[0], x[1])):
            print(line)


NTSTATUS = {0xC000006D: "STATUS_LOGON_FAILURE", 0xC000006A: "STATUS_WRONG_PASSWORD",
            0xC0000064: "STATUS_NO_SUCH_USER", 0xC0000022: "STATUS_ACCESS_DENIED",
            0xC0000072: "STATUS_ACCOUNT_DISABLED", 0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT",
            0xC0000071: "STATUS_PASSWORD_EXPIRED", 0xC0000224: "STATUS_PASSWORD_MUST_CHANGE",
            0xC000006E: "STATUS_ACCOUNT_RESTRICTION", 0xC000015B: "STATUS_LOGON_TYPE_NOT_GRANTED",
            0x8009030C: "SEC_E_LOGON_DENIED", 0x8009030E: "SEC_E_NO_CREDENTIALS",
            0x80090322: "SEC_E_WRONG_PRINCIPAL", 0x8009030F: "SEC_E_MESSAGE_ALTERED",
            0x80090308: "SEC_E_INVALID_TOKEN", 0x80090302: "SEC_E_UNSUPPORTED_FUNCTION"}


def describe_inner(ctype, plain):
    if ctype == 21 and len(plain) == 2:
        lvl = {1: "warning", 2: "fatal"}.get(plain[0], plain[0])
        return "decrypted: ALERT %s %s (%d)" % (lvl, ALERTS.get(plain[1], "?"), plain[1])
    if ctype == 22:
        types, p = [], 0
        while p + 4 <= len(plain):
            types.append(HS_TYPES.get(plain[p], str(plain[p])))
            p += 4 + int.from_bytes(plain[p + 1:p + 4], "big")
        return "decrypted: Handshake %s" % "+".join(types)
    if ctype == 23:
        return "decrypted: data %d bytes%s" % (len(plain), " (TPKT)" if plain[:1] == b"\x03" else "")
    return "decrypted: content type %d, %d bytes" % (ctype, len(plain))


def tls_summary(cs, ss, keys=None):
    """Print what the unencrypted TLS records show, per direction, in stream order."""
    crec, srec = tls_records(cs), tls_records(ss)
    if not crec and not srec:
        return
    version = None
    suite = None
    client_random = None
    server_random = None
    for r in crec:
        if r["type"] == 22 and r["body"][:1] == b"\x01" and len(r["body"]) >= 38:
            client_random = r["body"][6:38].hex()
            break
    # negotiated version first (decides when the server starts encrypting)
    for r in srec:
        if r["type"] == 22 and r["body"][:1] == b"\x02":
            b = r["body"][4:]
            version = int.from_bytes(b[0:2], "big")
            server_random = bytes(b[2:34])
            sid = b[34]
            suite = int.from_bytes(b[35 + sid:37 + sid], "big")
            rest = b[35 + sid + 3:]
            if len(rest) >= 2:
                for t, v in parse_exts(rest[2:]):
                    if t == 43 and len(v) == 2:
                        version = int.from_bytes(v, "big")
            break
    if keys is not None and version not in (0x0303, 0x0304):
        print("  (--keylog: neither TLS 1.3 nor TLS 1.2, records not decrypted)")
    pieces = {"client": [], "server": []}   # decrypted application data, for the CredSSP summary
    for who, recs in (("client", crec), ("server", srec)):
        enc = False
        hs = bytearray()
        hs_frames = []  # (offset in hs, frame)
        run = []
        dec = None
        if keys is not None and version in (0x0303, 0x0304) and client_random:
            if version == 0x0304:
                dec = Tls13Decryptor(keys, client_random, suite, who)
            else:
                dec = Tls12Decryptor(keys, client_random, server_random, suite, who)
            if not dec.ok:
                print("  (--keylog: no %s secrets for this client_random / suite)" % who)
                dec = None
        for r in recs:
            kind = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}[r["type"]]
            line = "  TLS %s #%s%s rec %s ver=%s len=%d" % (who, r["frame"], "" if r["lastFrame"] == r["frame"] else "-%s" % r["lastFrame"],
                                                       kind, vname(r["ver"]), r["len"])
            if r["truncated"]:
                line += " (truncated at capture end)"
            if r["type"] == 21:
                if enc or r["len"] != 2:
                    line += " ENCRYPTED alert"
                else:
                    lvl = {1: "warning", 2: "fatal"}.get(r["body"][0], r["body"][0])
                    line += " %s %s (%d)" % (lvl, ALERTS.get(r["body"][1], "?"), r["body"][1])
            elif r["type"] == 22 and not enc:
                hs_frames.append((len(hs), r["frame"]))
                hs += r["body"]
            elif r["type"] == 22 and enc:
                line += " (encrypted handshake)"
            elif r["type"] == 23 and r["len"] == 19:
                line += " (19 bytes = 2-byte plaintext + content type + 16-byte AEAD tag: an encrypted TLS 1.3 alert?)"
            inner = None
            if dec is not None and (r["type"] == 23 if version == 0x0304 else enc and r["type"] != 20):
                res = dec.decrypt(r)
                inner = res[0] if res else None
                line += " [%s]" % (describe_inner(*res) if res else "decryption failed")
                if inner == 23:
                    pieces[who].append((r["frame"], r["len"], res[1]))
            # long runs of application data: show the first two and the last two of a run
            if r["type"] == 23 and r["len"] != 19 and inner in (None, 23):
                run.append(line)
            else:
                flush_run(run)
                print(line)
            if r["type"] == 20:
                enc = True
            if who == "server" and version == 0x0304 and r["type"] == 22 and r["body"][:1] == b"\x02":
                enc = True
        flush_run(run)
        # handshake messages of the unencrypted part
        p = 0
        while p + 4 <= len(hs):
            t = hs[p]
            ln = int.from_bytes(hs[p + 1:p + 4], "big")
            body = bytes(hs[p + 4:p + 4 + ln])
            fr = None
            for o, f in hs_frames:
                if o <= p:
                    fr = f
            print("    %s handshake %s (frame %s, %d bytes%s)" % (who, HS_TYPES.get(t, t), fr, ln,
                                                               ", truncated" if len(body) < ln else ""))
            if t == 1 and len(body) > 38:
                legacy = int.from_bytes(body[0:2], "big")
                q = 34
                q += 1 + body[q]
                ncs = int.from_bytes(body[q:q + 2], "big")
                suites = [int.from_bytes(body[q + 2 + i:q + 4 + i], "big") for i in range(0, ncs, 2)]
                q += 2 + ncs
                q += 1 + body[q]
                exts = parse_exts(body[q + 2:]) if q + 2 <= len(body) else []
                sni = None
                versions = None
                for et, ev in exts:
                    if et == 0 and len(ev) > 5:
                        sni = ev[5:5 + int.from_bytes(ev[3:5], "big")].decode("latin1")
                    if et == 43:
                        versions = [int.from_bytes(ev[1 + i:3 + i], "big") for i in range(0, ev[0], 2)]
                print("      legacy_version=%s supported_versions=%s -> clientVersions=%s" % (
                    vname(legacy), [vname(v) for v in versions] if versions is not None else "(absent)",
                    [vname(v) for v in versions if vname(v) != "GREASE"] if versions is not None else [vname(legacy)]))
                print("      serverName(SNI)=%r extensions=%s" % (sni, [et for et, _ in exts]))
                print("      cipher suites (%d): %s" % (len(suites), ", ".join(CIPHERS.get(c, "0x%04x" % c) for c in suites)))
            elif t == 2 and len(body) > 38:
                sid = body[34]
                cs_ = int.from_bytes(body[35 + sid:37 + sid], "big")
                hrr = body[2:34] == HRR_RANDOM
                print("      %sversion=%s cipherSuite=%s" % ("HelloRetryRequest! " if hrr else "", vname(version or 0),
                                                          CIPHERS.get(cs_, "0x%04x" % cs_)))
            elif t == 11 and len(body) >= 3:
                q = 3
                n = 0
                while q + 3 <= len(body):
                    cl = int.from_bytes(body[q:q + 3], "big")
                    der = body[q + 3:q + 3 + cl]
                    print("      cert[%d] %s" % (n, cert_facts(der)))
                    q += 3 + cl
                    n += 1
            p += 4 + ln
    credssp_summary(pieces)
    if cs.gaps or ss.gaps:
        print("  NOTE: sequence gaps (lost/out-of-order segments) c->s %s s->c %s" % (cs.gaps, ss.gaps))


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


def main(path, keys=None):
    conns = {}
    order = []
    other = []
    allf = list(frames(path))
    # tshark (one pass) puts the reassembled datagram on the frame that completed it: its last fragment
    completed = {(f["ip.src"], f["ip.dst"], f["ip.id"]): f for f in allf if is_fragment(f) and f["tcp.srcport"]}
    ffrag = first_fragment_tcp(path) if any(is_fragment(f) and not f["tcp.srcport"] for f in allf) else {}
    for f in allf:
        if not f["tcp.srcport"] and not f["icmp.type"] and is_fragment(f):
            # an IP fragment: listed in its connection, found through the frame that completed
            # the datagram, or (never completed) through the TCP header in a first fragment
            f = dict(f)
            whole = completed.get((f["ip.src"], f["ip.dst"], f["ip.id"]))
            if whole is not None:
                f["frag"] = "reassembled in #%s" % whole["frame.number"]
                f["tcp.srcport"], f["tcp.dstport"] = whole["tcp.srcport"], whole["tcp.dstport"]
            elif f["frame.number"] in ffrag:
                t = ffrag[f["frame.number"]]
                f["frag"] = "NEVER REASSEMBLED; TCP header inside: %s seq=%s ack=%s" % (
                    flags_str(int(t["tcp.flags"], 16)), t["tcp.seq_raw"], t["tcp.ack_raw"])
                f["tcp.srcport"], f["tcp.dstport"] = t["tcp.srcport"], t["tcp.dstport"]
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
            print("non-TCP frame #%s %9.6f %s -> %s icmp.type=%s (quoted TCP %s -> %s)%s" % (
                o["frame.number"], float(o["frame.time_relative"]), o["ip.src"], o["ip.dst"], o["icmp.type"] or "-",
                o["tcp.srcport"] or "-", o["tcp.dstport"] or "-",
                " IP fragment id=%s offset=%d ip.len=%s%s" % (o["ip.id"], int(o["ip.frag_offset"] or 0),
                                                          o["ip.len"], " MF" if is_fragment(o) and o["ip.flags.mf"] in ("1", "True") else "")
                if is_fragment(o) else ""))
    for i, key in enumerate(order, 1):
        cli, srv = key
        print("=== connection %d  client %s:%d  server %s:%d" % (i, cli[0], cli[1], srv[0], srv[1]))
        c2s = bytearray()
        s2c = bytearray()
        cstream, sstream = Stream(), Stream()
        cr = cc = None
        nfrag = 0
        for f in conns[key]:
            frm = "c->s" if (f["ip.src"], int(f["tcp.srcport"])) == cli else "s->c"
            if "frag" in f:
                nfrag += 1
                print("  #%-4s %9.6f %s IP fragment id=%s offset=%d ip.len=%s%s: %s" % (
                    f["frame.number"], float(f["frame.time_relative"]), frm, f["ip.id"], int(f["ip.frag_offset"] or 0),
                    f["ip.len"], " MF" if f["ip.flags.mf"] in ("1", "True") else "", f["frag"]))
                continue
            fl = int(f["tcp.flags"], 16)
            payload = bytes.fromhex(f["tcp.payload"]) if f["tcp.payload"] else b""
            what = ""
            if payload:
                (cstream if frm == "c->s" else sstream).add(int(f["frame.number"]), int(f["tcp.seq_raw"]), payload)
                what = classify(payload)
                if frm == "c->s":
                    if not c2s and cr is None:
                        cr = (f["frame.number"], payload)
                    c2s += payload
                else:
                    if not s2c and cc is None:
                        cc = (f["frame.number"], payload)
                    s2c += payload
            if is_fragment(f):
                what += " [last IP fragment id=%s offset=%d ip.len=%s: datagram reassembled here]" % (
                    f["ip.id"], int(f["ip.frag_offset"] or 0), f["ip.len"])
            print("  #%-4s %9.6f %s %-12s seq=%s ack=%s len=%s %s" % (
                f["frame.number"], float(f["frame.time_relative"]), frm, flags_str(fl),
                f["tcp.seq_raw"], f["tcp.ack_raw"], f["tcp.len"], what))
        if cr:
            print("  CR frame %s: %s" % (cr[0], decode_cr(cr[1])))
        if cc:
            print("  first s->c payload frame %s: %s" % (cc[0], decode_cc(cc[1])))
        print("  bytes c->s=%d s->c=%d" % (len(c2s), len(s2c)))
        if nfrag:
            print("  IP fragments listed in this connection: %d (frames without a TCP segment of their own)" % nfrag)
        tls_summary(cstream, sstream, keys)


if __name__ == "__main__":
    args = sys.argv[1:]
    keys = None
    if "--keylog" in args:
        i = args.index("--keylog")
        keys = read_keylog(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit("usage: dump.py CAPTURE.pcap [--keylog TLS-KEYS.LOG]")
    main(args[0], keys)
