#!/usr/bin/env bash
# RdpWire recording lab: records one named RDP connection-setup scenario with
# real peers (xrdp / freerdp-shadow-cli servers, xfreerdp client) running in
# two private network namespaces joined by a veth pair, or (path scenarios) in
# three: client - router - server, the router forwarding between two /24s.
#
#   tests/lab/record.sh --list
#   tests/lab/record.sh SCENARIO [OUT_DIR]     (OUT_DIR defaults to tests/fixtures)
#   tests/lab/record.sh all [OUT_DIR]
#
# Environment:
#   VANTAGE=client|server|router   interface tcpdump listens on (default: the scenario's, normally
#                           client; router = the router's server-facing interface, routed scenarios only)
#   LOG_DIR=DIR             if set, copy server/client/tcpdump logs of the run into DIR/SCENARIO/
#   RWLAB_DEBUG=1           trace the script (set -x)
#   KEYLOG=1                log the client's TLS secrets (NSS key log format) to WORK/tls-keys.log through
#                           a tiny LD_PRELOAD shim compiled on the fly (needs gcc + libssl-dev); with
#                           LOG_DIR it is kept as LOG_DIR/SCENARIO/tls-keys.log (tshark -o tls.keylog_file:...)
#
# Must run as root (network namespaces, iptables, tcpdump). Only traffic between
# the namespaces created here (10.77.0.0/24 on a veth pair, or 10.77.1.0/24 and
# 10.77.2.0/24 on two veth pairs through the lab's router namespace) and loopback
# is ever generated. See tests/lab/README.md.
set -euo pipefail
[[ "${RWLAB_DEBUG:-0}" == 1 ]] && set -x

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

# ---- fixed lab parameters (keep stable: fixtures depend on them) -------------
NS_C=rwlab-c            # client namespace
NS_S=rwlab-s            # server namespace
IF_C=rwlab-c0           # veth end in the client namespace
IF_S=rwlab-s0           # veth end in the server namespace
MAC_C=02:77:00:00:00:02 # fixed MACs so captures are stable
MAC_S=02:77:00:00:00:01
ADDR_C=10.77.0.2
ADDR_S=10.77.0.1
RDP_PORT=3389
# routed topology (TOPOLOGY=routed): rwlab-c0 <-> rwlab-rc [rwlab-r] rwlab-rs <-> rwlab-s0
NS_R=rwlab-r            # router namespace
IF_RC=rwlab-rc          # router's veth end facing the client (the bottleneck MTU is set here)
IF_RS=rwlab-rs          # router's veth end facing the server
MAC_RC=02:77:00:00:01:01
MAC_RS=02:77:00:00:02:01
ROUTED_ADDR_C=10.77.1.2
ROUTED_ADDR_RC=10.77.1.1
ROUTED_ADDR_RS=10.77.2.1
ROUTED_ADDR_S=10.77.2.2
LAB_USER=rdpwire
LAB_PASS='Lab-Passw0rd!'

# ---- scenario catalogue --------------------------------------------------------
# name|description (order = order of `all`)
SCENARIOS=(
  "tls-success|xrdp security_layer=tls, xfreerdp /sec:tls: TLS handshake, MCS/RDP inside TLS; client killed after ~4 s"
  "tls-success-server-vantage|same as tls-success but captured on the SERVER namespace's interface"
  "nla-success|freerdp-shadow-cli /sec:nla with SAM file, xfreerdp /sec:nla +auth-only: CredSSP completes"
  "port-closed|nothing listens on 3389 in the server namespace: SYN answered by RST"
  "syn-dropped|iptables DROPs tcp dport 3389 in the server namespace: SYNs retransmitted, never answered"
  "icmp-unreachable|iptables REJECTs tcp dport 3389 with ICMP port-unreachable in the server namespace"
  "nla-required-tls-offered|shadow /sec:nla (requires NLA), xfreerdp /sec:tls offers TLS only: RDP_NEG_FAILURE"
  "client-nla-server-tls|xrdp security_layer=tls, xfreerdp /sec:nla: xrdp selects SSL, the NLA-only client aborts right after the Confirm"
  "client-nla-server-negotiate|xrdp security_layer=negotiate (its default), xfreerdp /sec:nla: same abort as client-nla-server-tls"
  "x224-no-confirm|xrdp running, server-side iptables drops every outgoing non-SYN segment with payload: Connection Confirm never arrives"
  "tls-server-stall|xrdp security_layer=tls, server-side iptables drops outgoing segments >= 200 bytes: Connection Confirm arrives, ServerHello never does"
  "rdp-security|xrdp security_layer=rdp, xfreerdp /sec:rdp: Standard RDP Security, MCS in the clear; client killed after ~4 s"
  "default-client-rdp-server|xrdp security_layer=rdp, xfreerdp with its default offer (SSL|HYBRID): server answers with PROTOCOL_RDP"
  "tls-required-rdp-offered|xrdp security_layer=tls, xfreerdp /sec:rdp (no RDP_NEG_REQ): bare Confirm, then xrdp drops the MCS Connect Initial (DPU + RST); FreeRDP retries once"
  "rdp-only-tls-offered|xrdp security_layer=rdp, xfreerdp /sec:tls offers only TLS: xrdp selects PROTOCOL_RDP anyway, client aborts"
  "request-reset|xrdp running, server-side iptables answers client segments with payload by a TCP RST (an IPS-style reject): the Connection Request draws a reset"
  "not-rdp-on-port|a plain HTTP server (python3 http.server) owns port 3389: the client's Connection Request is answered with HTTP, not an X.224 Confirm"
  "tls12-success|xrdp security_layer=tls ssl_protocols=TLSv1.2, xfreerdp /sec:tls pinned to TLS 1.2 (OPENSSL_CONF): TLS 1.2 handshake, certificate visible; client killed after ~4 s"
  "tls13-success|xrdp security_layer=tls ssl_protocols=TLSv1.3, xfreerdp /sec:tls pinned to TLS 1.3 (OPENSSL_CONF): TLS 1.3 handshake; client killed after ~4 s"
  "cert-expired-tls12|xrdp (TLS 1.2) presents a lab-CA-issued certificate that expired 2021-01-01; xfreerdp trusts the CA, /cert:deny, no /cert:ignore: client refuses it"
  "cert-expired-tls13|same expired certificate over TLS 1.3 (certificate encrypted on the wire): client refuses it"
  "cert-untrusted|xrdp (TLS 1.2 only) with a self-signed certificate the client does not trust; xfreerdp /cert:deny, default TLS versions: client refuses it"
  "tls-version-mismatch|xrdp ssl_protocols=TLSv1.3 only, xfreerdp pinned to TLS 1.2 only: no common TLS version"
  "server-key-unreadable|xrdp run as user xrdp (as Debian's unit does) with key_file a root-only 0600 file: it cannot load its TLS key"
  "no-shared-cipher|xrdp and xfreerdp pinned to TLS 1.2, xrdp tls_ciphers=ECDHE-RSA-AES256-GCM-SHA384, xfreerdp /tls-ciphers:AES128-SHA: no common cipher suite"
  "server-key-mismatch|xrdp whose key_file does not belong to its certificate (certificate renewed, old key kept): it cannot set up TLS"
  "nla-success-tls12|shadow /sec:nla with SAM file, xfreerdp /sec:nla +auth-only pinned to TLS 1.2: CredSSP completes, server certificate visible"
  "mtu-blackhole-client-side|routed; router's client-facing MTU 1200, router drops its own ICMP frag-needed; 4096-bit certificate chain: the server's full-size segments die at the router; captured on the client"
  "mtu-blackhole-server-side|same black hole captured on the server: full-size segments retransmitted, never acknowledged"
  "mtu-icmp-recovery|routed, MTU 1200, ICMP frag-needed allowed: the server learns the path MTU, re-segments, TLS completes; captured on the server, offloads off (wire-size frames)"
  "mtu-icmp-recovery-client-side|same as mtu-icmp-recovery (offloads off), captured on the client"
  "lossy-path|routed, no MTU change, offloads off, the router drops 7% of forwarded packets at random (both directions): retransmissions, connection completes"
  "offload-server-capture|routed, plain TLS success captured on the server with veth TSO/GSO on (default): frames far larger than the 1500 MTU"
  "offload-off-server-capture|same, with tso/gso/gro off on every veth end (the server's capture interface included): no frame above 1514 bytes"
  "fragmented-path|routed, MTU 1200, offloads off, the server does not set DF (ip_no_pmtu_disc=1): the router fragments its 1500-byte packets, the client reassembles them, TLS completes; captured on the client"
  "fragments-dropped|same, but the router drops every non-first fragment: the client receives first fragments only, the server's large segments never arrive, TLS stalls"
  "nla-wrong-password|shadow /sec:nla +auth with SAM file, xfreerdp /sec:nla +auth-only pinned to TLS 1.2, right user, wrong password: CredSSP/NTLM fails; client TLS key log kept as NAME.keylog"
  "nla-unknown-user|same, with a user name that is not in the SAM file: CredSSP/NTLM fails; key log kept as NAME.keylog"
  "nla-success-keylog|same, right user and password: CredSSP succeeds (+auth-only); key log kept as NAME.keylog, for contrast"
  "tls12-cbc-keylog|xrdp (TLS 1.2) tls_ciphers=ECDHE-RSA-AES256-SHA384 (AES-CBC, HMAC-SHA384), xfreerdp /sec:tls: through MCS to xrdp's login screen; key log kept as NAME.keylog"
  "credssp-version-downgrade|as nla-success-keylog, but the client's TSRequests claim CredSSP version 3 (unpatched for CVE-2018-0886) while it computes the v5+ public-key hash: the v6 server refuses the pubKeyAuth; key log kept"
  "credssp-server-version-downgrade|as nla-success-keylog, but the server's TSRequests claim CredSSP version 3 while it expects the v5+ hash: the client answers with the v2-4 public-key echo and the server refuses it; key log kept"
  "shadow-tls-wrong-password|shadow /sec:tls +auth (logon checked after the Client Info PDU), xfreerdp /sec:tls with a wrong password: how the server refuses the session; key log kept"
  "shadow-server-stopped|shadow /sec:tls, xfreerdp /sec:tls: the session is active when the server is stopped (SIGINT) after ~4 s; key log kept"
  "tls10-cbc-keylog|xrdp ssl_protocols=TLSv1 tls_ciphers=ECDHE-RSA-AES128-SHA:@SECLEVEL=0, xfreerdp /sec:tls /tls-seclevel:0 pinned to TLS 1.0: the legacy version and CBC with chained IVs; key log kept as NAME.keylog"
  "tls12-rsa-server-key|xrdp (TLS 1.2) tls_ciphers=AES128-SHA (RSA key exchange, AES-CBC, HMAC-SHA1), xfreerdp /sec:tls: through MCS; the lab's throw-away server key kept as NAME.server-key.pem"
)

die() { echo "record.sh: $*" >&2; exit 1; }
log() { echo "[rwlab] $*" >&2; }

list_scenarios() {
  local e
  for e in "${SCENARIOS[@]}"; do
    printf '%-30s %s\n' "${e%%|*}" "${e#*|}"
  done
}

scenario_exists() {
  local e
  for e in "${SCENARIOS[@]}"; do [[ "${e%%|*}" == "$1" ]] && return 0; done
  return 1
}

# Each scenario sets:
#   SERVER         none | xrdp | shadow | http (python3 http.server: not RDP)
#   SERVER_SEC     xrdp: tls|negotiate|rdp (security_layer=)   shadow: nla|tls|rdp (/sec:)
#   FIREWALL       none | drop-syn | reject-icmp | drop-server-payload | drop-server-large | reset-client-payload
#   CLIENT_SEC     value for xfreerdp /sec: (empty = let FreeRDP negotiate its default set)
#   CLIENT_EXTRA   extra xfreerdp arguments (array)
#   CLIENT_SECS    seconds the client may run before it is sent SIGTERM
#   CLIENT_PASS    1 = pass /p:PASSWORD (0 for xrdp sessions that should stop at xrdp's login screen)
#   CLIENT_USER    /u: user name (default the lab user, the one in the SAM file)
#   CLIENT_PASSWORD /p: password (default the lab password)
#   KEEP_KEYLOG    1 = record the client's TLS key log (as KEYLOG=1) and write it next to the capture as
#                  OUT_DIR/NAME.keylog (the throw-away secrets of this one lab session, for decryption tests)
#   CREDSSP_VERSION fault injection: the client's TSRequests claim this CredSSP version on the wire (the
#                  key-log shim rewrites the version field in SSL_write), as an unpatched client would
#   SERVER_CREDSSP_VERSION the same for the shadow server's TSRequests (the shim preloaded into freerdp-shadow-cli)
#   SERVER_STOP_AFTER seconds after the client starts, the server gets SIGINT (an orderly server shutdown mid-session)
#   KEEP_SERVER_KEY 1 = copy the server's TLS private key (the lab's throw-away key, made for this one run)
#                  next to the capture as OUT_DIR/NAME.server-key.pem, for --server-key (RSA key exchange) tests
#   XRDP_CRYPT     xrdp crypt_level= (Standard RDP Security only; see README for why rdp-security uses fips)
#   DEFAULT_VANTAGE client | server | router (routed only: the router's server-facing interface)
# TLS knobs (see "TLS scenarios" in the README):
#   CERT           self (throw-away self-signed, default) | ca-valid | ca-expired (issued by the lab CA, fixed dates)
#                  | ca-chain-4096 (RSA-4096 CA and server key, the CA appended to cert.pem: a ~3.5 KB flight)
#   KEY_FAULT      none | unreadable (xrdp only: key_file root-only 0600, xrdp run as user xrdp)
#                  | mismatch (key_file is a different RSA key than the certificate's)
#   XRDP_TLS       xrdp ssl_protocols= (default: the packaged "TLSv1.2, TLSv1.3")
#   XRDP_CIPHERS   xrdp tls_ciphers= (empty: leave the packaged default)
#   CLIENT_TLS     "" | 1 | 1.1 | 1.2 | 1.3: pin the client's OpenSSL to one TLS version through an OPENSSL_CONF file
#   CLIENT_CERT    ignore (/cert:ignore, default) | deny (/cert:deny: verify; refuse, or prompt and read
#                  EOF from /dev/null, which refuses too)
#   CLIENT_TRUST   none | ca (SSL_CERT_FILE = the lab CA: the client's OpenSSL trusts it)
# Path knobs (see "Routed topology" in the README):
#   TOPOLOGY       direct (two namespaces, one veth pair: every scenario before the path ones)
#                  | routed (client - router - server, two /24s, the router forwards)
#   BOTTLENECK_MTU routed: MTU of the router's client-facing interface (empty: 1500, unchanged);
#                  the client's own interface stays 1500, so its SYN still advertises MSS 1460
#   ROUTER_ICMP    routed: pass | drop (router iptables OUTPUT drops the ICMP frag-needed it generates)
#   ROUTER_LOSS    routed: probability (e.g. 0.07) with which the router drops any forwarded packet
#   SERVER_DF      routed: on (kernel default: DF set, PMTU discovery) | off (net.ipv4.ip_no_pmtu_disc=1 in the
#                  server namespace: no DF, so the router fragments the server's packets to the bottleneck MTU)
#   ROUTER_FRAGS   routed: pass | drop-nonfirst (every non-first IP fragment the router sends towards the client
#                  is dropped, nftables egress hook on its client-facing interface)
#   OFFLOAD        on (veth default: TSO/GSO on, GRO off) | off (ethtool -K tso/gso/gro off on every
#                  veth end: one packet = one wire-size segment, at the router and in the capture)
# the path scenarios' common part: xrdp tls <- xfreerdp /sec:tls /cert:ignore, no password
# (xrdp's login screen), through the router
routed_tls() { SERVER=xrdp SERVER_SEC=tls CLIENT_SEC=tls CLIENT_PASS=0 TOPOLOGY=routed; }

# the NLA credential scenarios' common part: shadow /sec:nla +auth (SAM file) <- xfreerdp /sec:nla
# +auth-only pinned to TLS 1.2 (certificate in the clear), the run's key log written beside the capture
nla_keylog() { SERVER=shadow SERVER_SEC=nla CLIENT_SEC=nla CLIENT_TLS=1.2 CLIENT_EXTRA=(+auth-only) CLIENT_SECS=10 KEEP_KEYLOG=1; }

configure_scenario() {
  SERVER=none SERVER_SEC= FIREWALL=none CLIENT_SEC= CLIENT_EXTRA=() CLIENT_SECS=10 DEFAULT_VANTAGE=client
  CLIENT_PASS=1 XRDP_CRYPT=high CLIENT_USER=$LAB_USER CLIENT_PASSWORD=$LAB_PASS KEEP_KEYLOG=0 KEEP_SERVER_KEY=0 CREDSSP_VERSION= SERVER_CREDSSP_VERSION= SHADOW_AUTH=0 SERVER_STOP_AFTER=
  CERT=self KEY_FAULT=none XRDP_TLS="TLSv1.2, TLSv1.3" XRDP_CIPHERS= CLIENT_TLS= CLIENT_CERT=ignore CLIENT_TRUST=none
  TOPOLOGY=direct BOTTLENECK_MTU= ROUTER_ICMP=pass ROUTER_LOSS= OFFLOAD=on SERVER_DF=on ROUTER_FRAGS=pass
  case "$1" in
    tls-success)                 SERVER=xrdp SERVER_SEC=tls CLIENT_SEC=tls CLIENT_SECS=4 CLIENT_PASS=0 ;;
    tls-success-server-vantage)  SERVER=xrdp SERVER_SEC=tls CLIENT_SEC=tls CLIENT_SECS=4 DEFAULT_VANTAGE=server CLIENT_PASS=0 ;;
    nla-success)                 SERVER=shadow SERVER_SEC=nla CLIENT_SEC=nla CLIENT_EXTRA=(+auth-only) CLIENT_SECS=10 ;;
    port-closed)                 SERVER=none CLIENT_SECS=10 ;;
    syn-dropped)                 SERVER=none FIREWALL=drop-syn CLIENT_SECS=25 ;;
    icmp-unreachable)            SERVER=none FIREWALL=reject-icmp CLIENT_SECS=10 ;;
    nla-required-tls-offered)    SERVER=shadow SERVER_SEC=nla CLIENT_SEC=tls CLIENT_SECS=8 ;;
    client-nla-server-tls)       SERVER=xrdp SERVER_SEC=tls CLIENT_SEC=nla CLIENT_SECS=8 ;;
    client-nla-server-negotiate) SERVER=xrdp SERVER_SEC=negotiate CLIENT_SEC=nla CLIENT_SECS=8 ;;
    x224-no-confirm)             SERVER=xrdp SERVER_SEC=tls FIREWALL=drop-server-payload CLIENT_SEC=tls CLIENT_SECS=10 ;;
    tls-server-stall)            SERVER=xrdp SERVER_SEC=tls FIREWALL=drop-server-large CLIENT_SEC=tls CLIENT_SECS=8 CLIENT_PASS=0 ;;
    rdp-security)                SERVER=xrdp SERVER_SEC=rdp XRDP_CRYPT=fips CLIENT_SEC=rdp CLIENT_SECS=4 CLIENT_PASS=0 ;;
    default-client-rdp-server)   SERVER=xrdp SERVER_SEC=rdp XRDP_CRYPT=fips CLIENT_SECS=4 CLIENT_PASS=0 ;;
    tls-required-rdp-offered)    SERVER=xrdp SERVER_SEC=tls CLIENT_SEC=rdp CLIENT_SECS=8 ;;
    rdp-only-tls-offered)        SERVER=xrdp SERVER_SEC=rdp CLIENT_SEC=tls CLIENT_SECS=8 ;;
    request-reset)               SERVER=xrdp SERVER_SEC=tls FIREWALL=reset-client-payload CLIENT_SEC=tls CLIENT_SECS=8 ;;
    not-rdp-on-port)             SERVER=http CLIENT_SEC=tls CLIENT_SECS=8 ;;
    tls12-success)               SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 CLIENT_SEC=tls CLIENT_TLS=1.2 CLIENT_SECS=4 CLIENT_PASS=0 ;;
    tls13-success)               SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.3 CLIENT_SEC=tls CLIENT_TLS=1.3 CLIENT_SECS=4 CLIENT_PASS=0 ;;
    cert-expired-tls12)          SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 CERT=ca-expired CLIENT_SEC=tls CLIENT_TLS=1.2 \
                                 CLIENT_CERT=deny CLIENT_TRUST=ca CLIENT_EXTRA=(/cert:name:rwlab-server) CLIENT_SECS=8 CLIENT_PASS=0 ;;
    cert-expired-tls13)          SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.3 CERT=ca-expired CLIENT_SEC=tls CLIENT_TLS=1.3 \
                                 CLIENT_CERT=deny CLIENT_TRUST=ca CLIENT_EXTRA=(/cert:name:rwlab-server) CLIENT_SECS=8 CLIENT_PASS=0 ;;
    cert-untrusted)              SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 CLIENT_SEC=tls CLIENT_CERT=deny CLIENT_SECS=8 CLIENT_PASS=0 ;;
    tls-version-mismatch)        SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.3 CLIENT_SEC=tls CLIENT_TLS=1.2 CLIENT_SECS=8 ;;
    server-key-unreadable)       SERVER=xrdp SERVER_SEC=tls KEY_FAULT=unreadable CLIENT_SEC=tls CLIENT_SECS=8 ;;
    server-key-mismatch)         SERVER=xrdp SERVER_SEC=tls KEY_FAULT=mismatch CLIENT_SEC=tls CLIENT_SECS=8 ;;
    no-shared-cipher)            SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 XRDP_CIPHERS=ECDHE-RSA-AES256-GCM-SHA384 \
                                 CLIENT_SEC=tls CLIENT_TLS=1.2 CLIENT_EXTRA=(/tls-ciphers:AES128-SHA) CLIENT_SECS=8 ;;
    nla-success-tls12)           SERVER=shadow SERVER_SEC=nla CLIENT_SEC=nla CLIENT_TLS=1.2 CLIENT_EXTRA=(+auth-only) CLIENT_SECS=10 ;;
    mtu-blackhole-client-side)   routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 ROUTER_ICMP=drop CLIENT_SECS=10 ;;
    mtu-blackhole-server-side)   routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 ROUTER_ICMP=drop CLIENT_SECS=10 \
                                 DEFAULT_VANTAGE=server ;;
    mtu-icmp-recovery)           routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 CLIENT_SECS=4 DEFAULT_VANTAGE=server OFFLOAD=off ;;
    mtu-icmp-recovery-client-side) routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 CLIENT_SECS=4 OFFLOAD=off ;;
    lossy-path)                  routed_tls; ROUTER_LOSS=0.07 OFFLOAD=off CLIENT_SECS=6 ;;
    offload-server-capture)      routed_tls; CLIENT_SECS=4 DEFAULT_VANTAGE=server ;;
    offload-off-server-capture)  routed_tls; CLIENT_SECS=4 DEFAULT_VANTAGE=server OFFLOAD=off ;;
    fragmented-path)             routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 SERVER_DF=off OFFLOAD=off CLIENT_SECS=4 ;;
    fragments-dropped)           routed_tls; CERT=ca-chain-4096 BOTTLENECK_MTU=1200 SERVER_DF=off ROUTER_FRAGS=drop-nonfirst \
                                 OFFLOAD=off CLIENT_SECS=10 ;;
    nla-wrong-password)          nla_keylog; CLIENT_PASSWORD='Wrong-Passw0rd!' ;;
    nla-unknown-user)            nla_keylog; CLIENT_USER=rwlab-nobody ;;
    nla-success-keylog)          nla_keylog ;;
    credssp-version-downgrade)   nla_keylog; CREDSSP_VERSION=3 ;;
    shadow-tls-wrong-password)   SERVER=shadow SERVER_SEC=tls SHADOW_AUTH=1 CLIENT_SEC=tls CLIENT_TLS=1.2 CLIENT_SECS=10 \
                                 CLIENT_PASSWORD='Wrong-Passw0rd!' KEEP_KEYLOG=1 ;;
    shadow-server-stopped)       SERVER=shadow SERVER_SEC=tls CLIENT_SEC=tls CLIENT_TLS=1.2 CLIENT_SECS=10 SERVER_STOP_AFTER=4 KEEP_KEYLOG=1 ;;
    credssp-server-version-downgrade) nla_keylog; SERVER_CREDSSP_VERSION=3 ;;
    tls12-cbc-keylog)            SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 XRDP_CIPHERS=ECDHE-RSA-AES256-SHA384 CLIENT_SEC=tls \
                                 CLIENT_TLS=1.2 CLIENT_SECS=4 CLIENT_PASS=0 KEEP_KEYLOG=1 ;;
    tls10-cbc-keylog)            SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1 XRDP_CIPHERS=ECDHE-RSA-AES128-SHA:@SECLEVEL=0 CLIENT_SEC=tls \
                                 CLIENT_TLS=1 CLIENT_EXTRA=(/tls-seclevel:0) CLIENT_SECS=4 CLIENT_PASS=0 KEEP_KEYLOG=1 ;;
    tls12-rsa-server-key)        SERVER=xrdp SERVER_SEC=tls XRDP_TLS=TLSv1.2 XRDP_CIPHERS=AES128-SHA CLIENT_SEC=tls \
                                 CLIENT_TLS=1.2 CLIENT_SECS=4 CLIENT_PASS=0 KEEP_SERVER_KEY=1 ;;
    *) die "unknown scenario '$1' (see --list)" ;;
  esac
}

# ---- process / cleanup bookkeeping ----------------------------------------------
PIDS=()        # every background process this run started (in start order)
WORK=""        # private temp dir
DISPLAYS=()    # X display numbers of the Xvfb servers we started
CLEANED=0

cleanup() {
  [[ $CLEANED == 1 ]] && return 0
  CLEANED=1
  set +e
  # no "Killed ..." job notices from bash while we reap our children
  exec 2>/dev/null
  local i pid ns d
  # polite stop, newest first
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  # Safety net: anything still inside OUR namespaces was started by this script
  # (through `ip netns exec`), e.g. a child that outlived its `timeout` wrapper.
  for ns in "$NS_C" "$NS_R" "$NS_S"; do
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    fi
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ -n ${LOG_DIR:-} && -n $WORK && -d $WORK ]]; then
    mkdir -p "$LOG_DIR/$SCENARIO"
    cp "$WORK"/*.log "$WORK"/*.out "$WORK"/xrdp/xrdp.log "$WORK"/xrdp/xrdp.ini "$WORK"/cert.pem \
       "$WORK"/openssl-client.cnf "$WORK"/ca/ca.pem "$WORK"/ca/ca.log "$WORK"/tls-keys.log "$WORK"/router.log "$WORK"/offload.log "$LOG_DIR/$SCENARIO/" 2>/dev/null
  fi
  for ns in "$NS_C" "$NS_R" "$NS_S"; do
    ip netns list 2>/dev/null | grep -qw "$ns" && ip netns del "$ns" 2>/dev/null
  done
  # X socket/lock files left by an Xvfb of ours that was killed hard (the numbers
  # were free when we picked them, and our Xvfb processes are gone by now)
  for d in "${DISPLAYS[@]}"; do rm -f "/tmp/.X11-unix/X$d" "/tmp/.X$d-lock"; done
  [[ -n $WORK && -d $WORK && -z ${RWLAB_KEEP_WORK:-} ]] && rm -rf "$WORK"
  return 0
}

# run CMD... in the background inside namespace NS; stdout+stderr -> LOGFILE
bg_in_ns() {
  local ns=$1 logfile=$2; shift 2
  ip netns exec "$ns" "$@" >"$logfile" 2>&1 9>&- &
  PIDS+=($!)
  LAST_PID=$!
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.1
  done
}

need() { command -v "$1" >/dev/null 2>&1 || die "missing tool '$1' (see tests/lab/README.md)"; }

# ---- building blocks ---------------------------------------------------------------
preclean_stale() {
  # a previous run that was SIGKILLed may have left our namespaces behind
  local ns pid
  for ns in "$NS_C" "$NS_R" "$NS_S"; do
    if ip netns list | grep -qw "$ns"; then
      log "removing stale namespace $ns from an earlier run"
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" || true
    fi
  done
  # work dirs of earlier runs that were SIGKILLed (we hold the lock, so none is active)
  local d
  for d in /tmp/rwlab.??????; do
    [[ -d $d ]] || continue
    log "removing stale $d"
    if [[ -f $d/displays ]]; then
      local n
      for n in $(cat "$d/displays"); do rm -f "/tmp/.X11-unix/X$n" "/tmp/.X$n-lock"; done
    fi
    rm -rf "$d"
  done
  return 0
}

setup_network() {
  [[ $TOPOLOGY == routed ]] && { setup_routed_network; return; }
  ip netns add "$NS_C"
  ip netns add "$NS_S"
  ip link add "$IF_C" address "$MAC_C" netns "$NS_C" type veth peer name "$IF_S" address "$MAC_S" netns "$NS_S"
  local ns
  for ns in "$NS_C" "$NS_S"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip -n "$NS_C" addr add "$ADDR_C/24" dev "$IF_C"
  ip -n "$NS_S" addr add "$ADDR_S/24" dev "$IF_S"
  ip -n "$NS_C" link set "$IF_C" up
  ip -n "$NS_S" link set "$IF_S" up
  # static neighbours: no ARP in the captures
  ip -n "$NS_C" neigh replace "$ADDR_S" lladdr "$MAC_S" dev "$IF_C" nud permanent
  ip -n "$NS_S" neigh replace "$ADDR_C" lladdr "$MAC_C" dev "$IF_S" nud permanent
}

# TOPOLOGY=routed:
#   rwlab-c0 10.77.1.2/24 <-veth-> rwlab-rc 10.77.1.1/24 [rwlab-r: forwarding] rwlab-rs 10.77.2.1/24 <-veth-> rwlab-s0 10.77.2.2/24
# default routes via the router, static neighbours everywhere (no ARP), IPv6 off, and PMTU
# discovery pinned to the kernel defaults in every namespace: DF set (ip_no_pmtu_disc=0) and no
# TCP MTU probing (tcp_mtu_probing=0), so a path MTU black hole stays a black hole.
setup_routed_network() {
  local ns
  for ns in "$NS_C" "$NS_R" "$NS_S"; do
    ip netns add "$ns"
  done
  ip link add "$IF_C" address "$MAC_C" netns "$NS_C" type veth peer name "$IF_RC" address "$MAC_RC" netns "$NS_R"
  ip link add "$IF_RS" address "$MAC_RS" netns "$NS_R" type veth peer name "$IF_S" address "$MAC_S" netns "$NS_S"
  for ns in "$NS_C" "$NS_R" "$NS_S"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
      net.ipv4.ip_no_pmtu_disc=0 net.ipv4.tcp_mtu_probing=0
    ip -n "$ns" link set lo up
  done
  # SERVER_DF=off: the server's sockets no longer set DF (IP_PMTUDISC_DONT, inherited by xrdp's
  # listening socket, so this must precede the server's start); a router fragments what does not fit
  [[ $SERVER_DF == off ]] && ip netns exec "$NS_S" sysctl -qw net.ipv4.ip_no_pmtu_disc=1
  ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NS_C" addr add "$ADDR_C/24" dev "$IF_C"
  ip -n "$NS_R" addr add "$ROUTED_ADDR_RC/24" dev "$IF_RC"
  ip -n "$NS_R" addr add "$ROUTED_ADDR_RS/24" dev "$IF_RS"
  ip -n "$NS_S" addr add "$ADDR_S/24" dev "$IF_S"
  # the bottleneck: only the router's client-facing end; the client keeps 1500 (SYN: MSS 1460)
  [[ -n $BOTTLENECK_MTU ]] && ip -n "$NS_R" link set "$IF_RC" mtu "$BOTTLENECK_MTU"
  ip -n "$NS_C" link set "$IF_C" up
  ip -n "$NS_R" link set "$IF_RC" up
  ip -n "$NS_R" link set "$IF_RS" up
  ip -n "$NS_S" link set "$IF_S" up
  ip -n "$NS_C" route add default via "$ROUTED_ADDR_RC" dev "$IF_C"
  ip -n "$NS_S" route add default via "$ROUTED_ADDR_RS" dev "$IF_S"
  ip -n "$NS_C" neigh replace "$ROUTED_ADDR_RC" lladdr "$MAC_RC" dev "$IF_C" nud permanent
  ip -n "$NS_R" neigh replace "$ADDR_C" lladdr "$MAC_C" dev "$IF_RC" nud permanent
  ip -n "$NS_R" neigh replace "$ADDR_S" lladdr "$MAC_S" dev "$IF_RS" nud permanent
  ip -n "$NS_S" neigh replace "$ROUTED_ADDR_RS" lladdr "$MAC_RS" dev "$IF_S" nud permanent
}

# OFFLOAD=off: tso/gso/gro off on every veth end of the lab. veth hands a GSO packet (one skb of up
# to ~64 KB, cut into MSS-size segments only "on the wire") to its peer unsegmented, so with the
# default offloads a capture shows such super-frames, and the router forwards, drops or refuses
# (too big, one ICMP) a whole GSO packet at once where a real router sees single segments. With
# them off every packet is one wire-size segment from the sender's stack to every capture point.
offload_off() {
  [[ $OFFLOAD == off ]] || return 0
  need ethtool
  local pair
  local ends=("$NS_C $IF_C" "$NS_S $IF_S")
  [[ $TOPOLOGY == routed ]] && ends+=("$NS_R $IF_RC" "$NS_R $IF_RS")
  for pair in "${ends[@]}"; do
    ip netns exec "${pair%% *}" ethtool -K "${pair#* }" tso off gso off gro off
  done
}

# The router's path faults (routed topology only; iptables in the router namespace).
setup_router() {
  [[ $TOPOLOGY == routed ]] || return 0
  case "$ROUTER_ICMP" in
    pass) ;;
    drop)
      # the misconfigured firewall that makes a PMTU black hole: the router still refuses to
      # forward a DF packet larger than the next hop's MTU, but the ICMP 3/4 "fragmentation
      # needed" it generates for the sender never leaves it (locally generated: OUTPUT chain)
      ip netns exec "$NS_R" iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP ;;
    *) die "unknown ROUTER_ICMP mode $ROUTER_ICMP" ;;
  esac
  case "$ROUTER_FRAGS" in
    pass) ;;
    drop-nonfirst)
      # The fragments are made by the router itself, when it forwards a DF-less packet larger than
      # the next hop's MTU - after every iptables hook (ip_fragment runs after POSTROUTING), so
      # `iptables -A FORWARD -f -j DROP` here never matches (tried: 0 packets). The first point a
      # router-made fragment passes is the interface's egress hook (nftables netdev family): drop
      # every fragment with a non-zero offset there, as a firewall behind the router would.
      need nft
      ip netns exec "$NS_R" nft -f - <<EOF_NFT
table netdev rwlab_frag {
  chain egress_rc {
    type filter hook egress device "$IF_RC" priority 0; policy accept;
    ip frag-off & 0x1fff != 0 counter drop
  }
}
EOF_NFT
      ;;
    *) die "unknown ROUTER_FRAGS mode $ROUTER_FRAGS" ;;
  esac
  if [[ -n $ROUTER_LOSS ]]; then
    # random loss on the path, either direction (xt_statistic, not seedable: runs differ)
    ip netns exec "$NS_R" iptables -A FORWARD -m statistic --mode random --probability "$ROUTER_LOSS" -j DROP
  fi
  return 0
}

# What the router did, for the logs (LOG_DIR) and the sidecar author: rule counters, the
# kernel's ICMP/fragmentation counters, per-interface counters.
router_report() {
  [[ $TOPOLOGY == routed ]] || return 0
  {
    echo "== iptables -L -v -n -x (router)"
    ip netns exec "$NS_R" iptables -L -v -n -x
    if [[ $ROUTER_FRAGS != pass ]]; then
      echo "== nft list ruleset (router)"
      ip netns exec "$NS_R" nft list ruleset
    fi
    echo "== nstat -asz (router)"
    ip netns exec "$NS_R" nstat -asz 2>/dev/null | grep -E 'IpForwDatagrams|IpFragFails|IpFragOKs|IpFragCreates|IpOutDiscards|IcmpOutDestUnreachs|IcmpOutErrors|IcmpMsgOutType3' || true
    echo "== ip -s link (router)"
    ip -n "$NS_R" -s link show
  } >"$WORK/router.log" 2>&1
  local fwd fragfail icmp
  fwd=$(awk '$1=="IpForwDatagrams"{print $2}' "$WORK/router.log")
  fragfail=$(awk '$1=="IpFragFails"{print $2}' "$WORK/router.log")
  icmp=$(awk '$1=="IcmpOutDestUnreachs"{print $2}' "$WORK/router.log")
  if [[ $SERVER_DF == on && $ROUTER_FRAGS == pass ]]; then
    log "router: forwarded ${fwd:-?}, too big for the next hop (DF) ${fragfail:-?}, ICMP dest-unreach generated ${icmp:-?} (ROUTER_ICMP=$ROUTER_ICMP)"
  else
    # IpFragOKs: datagrams fragmented completely; IpFragCreates: fragments sent; IpFragFails also counts
    # a datagram one of whose fragments was dropped on its way out (the egress rule of drop-nonfirst)
    local fragok fragcr fragdrop
    fragok=$(awk '$1=="IpFragOKs"{print $2}' "$WORK/router.log")
    fragcr=$(awk '$1=="IpFragCreates"{print $2}' "$WORK/router.log")
    fragdrop=$(awk '/frag-off/ && /counter/ {for (i=1; i<NF; i++) if ($i=="packets") print $(i+1)}' "$WORK/router.log")
    log "router: forwarded ${fwd:-?}, datagrams fragmented ${fragok:-?}, fragments sent ${fragcr:-?}, fragmentation failed ${fragfail:-?}, non-first fragments dropped at egress ${fragdrop:-0} (SERVER_DF=$SERVER_DF, ROUTER_FRAGS=$ROUTER_FRAGS), ICMP dest-unreach generated ${icmp:-?}"
  fi
}

setup_firewall() {
  case "$FIREWALL" in
    none) ;;
    drop-syn)
      # server silently drops everything addressed to the RDP port
      ip netns exec "$NS_S" iptables -A INPUT -p tcp --dport "$RDP_PORT" -j DROP ;;
    drop-server-payload)
      # Drop every server->client segment that carries payload, but let the SYN-ACK
      # (IP len 60) and pure ACK/FIN/RST segments (IP len 52 with timestamps, 40 without) pass.
      # IP total length >= 53 with timestamps on == at least one byte of TCP payload.
      ip netns exec "$NS_S" iptables -A OUTPUT -p tcp --sport "$RDP_PORT" '!' --tcp-flags SYN SYN \
        -m length --length 53:65535 -j DROP ;;
    reject-icmp)
      # the server host's firewall rejects: SYN answered by ICMP destination/port unreachable
      ip netns exec "$NS_S" iptables -A INPUT -p tcp --dport "$RDP_PORT" -j REJECT --reject-with icmp-port-unreachable ;;
    drop-server-large)
      # Let the handshake's small server segments through (SYN-ACK 60, ACKs 52, the
      # 19-byte Connection Confirm = IP length 71) but drop anything of IP length >= 200,
      # i.e. the TLS ServerHello flight (and its retransmissions).
      ip netns exec "$NS_S" iptables -A OUTPUT -p tcp --sport "$RDP_PORT" -m length --length 200:65535 -j DROP ;;
    reset-client-payload)
      # The handshake passes; the first client segment that carries payload (IP length >= 53
      # with timestamps), i.e. the X.224 Connection Request, is answered by a TCP RST sent in the
      # server's name, as an inline IPS or a reject rule on the server would.
      ip netns exec "$NS_S" iptables -A INPUT -p tcp --dport "$RDP_PORT" '!' --tcp-flags SYN SYN \
        -m length --length 53:65535 -j REJECT --reject-with tcp-reset ;;
    *) die "unknown firewall mode $FIREWALL" ;;
  esac
}

free_display() { # first X display number >= $1 with no socket/lock file and not used by this run
  local n=$1 d used
  while ((n < 200)); do
    used=0
    for d in "${DISPLAYS[@]}"; do [[ $d == "$n" ]] && used=1; done
    if [[ $used == 0 && ! -e /tmp/.X11-unix/X$n && ! -e /tmp/.X$n-lock ]]; then echo "$n"; return 0; fi
    n=$((n + 1))
  done
  die "no free X display number"
}

start_xvfb() { # start_xvfb NS NAME -> sets XDISPLAY
  local ns=$1 name=$2 f="$WORK/$2.display" n
  n=$(free_display 77)
  DISPLAYS+=("$n")
  echo "$n" >>"$WORK/displays"
  : >"$f"
  # -displayfd: Xvfb writes the display number once it accepts connections
  ip netns exec "$ns" timeout -k 2 120 Xvfb ":$n" -displayfd 3 -nolisten tcp -screen 0 1024x768x24 \
    3>"$f" >"$WORK/$name.log" 2>&1 9>&- &
  PIDS+=($!)
  wait_for 15 "Xvfb ($name)" test -s "$f"
  XDISPLAY=$n
}

make_cert() { # -> $WORK/cert.pem + $WORK/key.pem, the server's TLS identity (kind: $CERT)
  KEY_BITS=2048   # lab CA and CA-issued server keys
  case "$CERT" in
    self)
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/CN=rwlab-server" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 ;;
    ca-valid)   make_ca; issue_cert 20240101000000Z 20340101000000Z ;;
    ca-expired) make_ca; issue_cert 20200101000000Z 20210101000000Z ;;
    ca-chain-4096)
      # a big certificate flight for the path-MTU scenarios: RSA-4096 CA and server keys
      # (512-byte signatures), and the CA certificate sent along (xrdp loads the certificate
      # file with SSL_CTX_use_certificate_chain_file): Certificate message ~2.7 KB
      KEY_BITS=4096
      make_ca; issue_cert 20240101000000Z 20340101000000Z
      cat "$WORK/ca/ca.pem" >>"$WORK/cert.pem" ;;
    *) die "unknown certificate kind $CERT" ;;
  esac
  chmod 600 "$WORK/key.pem"
  if [[ $KEY_FAULT == mismatch ]]; then
    # the certificate stays, the key file is replaced by an unrelated RSA key
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" >/dev/null 2>&1
    chmod 600 "$WORK/key.pem"
  fi
}

# A throw-away lab CA ($WORK/ca). `openssl req -x509` (OpenSSL 3.0) cannot backdate a
# certificate, `openssl ca -startdate/-enddate` can: the CA signs itself with fixed
# dates (2019..2039) and then issues the server certificate with the dates asked for.
make_ca() {
  local d=$WORK/ca
  mkdir -p "$d/newcerts"
  : >"$d/index.txt"
  echo 1000 >"$d/serial"
  cat >"$d/ca.cnf" <<EOF_CNF
[ca]
default_ca = rwlab_ca
[rwlab_ca]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[policy_any]
commonName = supplied
[ext_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ext_server]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:rwlab-server,IP:$ADDR_S
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF_CNF
  openssl req -new -newkey "rsa:$KEY_BITS" -nodes -subj "/CN=rwlab-ca" \
    -keyout "$d/ca.key" -out "$d/ca.csr" >/dev/null 2>&1
  openssl ca -batch -notext -config "$d/ca.cnf" -selfsign -keyfile "$d/ca.key" \
    -startdate 20190101000000Z -enddate 20391231000000Z -extensions ext_ca \
    -in "$d/ca.csr" -out "$d/ca.pem" >"$d/ca.log" 2>&1 || die "lab CA: openssl ca -selfsign failed (see $d/ca.log)"
}

issue_cert() { # issue_cert STARTDATE ENDDATE (YYYYMMDDHHMMSSZ): CN=rwlab-server signed by the lab CA
  local d=$WORK/ca
  openssl req -new -newkey "rsa:$KEY_BITS" -nodes -subj "/CN=rwlab-server" \
    -keyout "$WORK/key.pem" -out "$d/server.csr" >/dev/null 2>&1
  openssl ca -batch -notext -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
    -startdate "$1" -enddate "$2" -extensions ext_server \
    -in "$d/server.csr" -out "$WORK/cert.pem" >>"$d/ca.log" 2>&1 || die "lab CA: issuing the server certificate failed"
}

# OpenSSL config for the client only (OPENSSL_CONF): FreeRDP 2 has no TLS min/max
# version option, but every SSL_CTX it creates starts from the system_default section.
# MinProtocol/MaxProtocol alone do NOT work: FreeRDP 2's tls_prepare() calls
# SSL_CTX_set_min_proto_version(TLS1_VERSION) and set_max_proto_version(0) right after
# SSL_CTX_new(), which overrides them. The (deprecated) `Protocol` command sets the
# SSL_OP_NO_TLSv1_x option bits instead, and FreeRDP only ever adds option bits.
client_openssl_conf() { # client_openssl_conf 1|1.1|1.2|1.3 -> $WORK/openssl-client.cnf
  # OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
  local cipher_line=
  [[ $1 == 1 || $1 == 1.1 ]] && cipher_line="CipherString = DEFAULT:@SECLEVEL=0"
  cat >"$WORK/openssl-client.cnf" <<EOF_CNF
openssl_conf = rwlab_init
[rwlab_init]
ssl_conf = rwlab_ssl
[rwlab_ssl]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv$1
MaxProtocol = TLSv$1
Protocol = -ALL, TLSv$1
$cipher_line
EOF_CNF
}

# KEYLOG=1: OpenSSL 3.0 has no SSLKEYLOGFILE and FreeRDP 2 no key-log option, so a shim
# interposes SSL_new() and installs SSL_CTX_set_keylog_callback() on the client's context.
# It only writes the secrets to a file: the bytes on the wire are the same without it.
build_keylog_shim() { # -> $WORK/keylog.so
  need gcc
  cat >"$WORK/keylog.c" <<'EOF_C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
static void rwlab_keylog(const SSL *ssl, const char *line)
{
  const char *path = getenv("RWLAB_KEYLOG_FILE");
  FILE *f;
  (void)ssl;
  if (path && (f = fopen(path, "a")) != NULL) { fprintf(f, "%s\n", line); fclose(f); }
}
SSL *SSL_new(SSL_CTX *ctx)
{
  static SSL *(*real_new)(SSL_CTX *);
  if (!real_new) real_new = (SSL *(*)(SSL_CTX *))dlsym(RTLD_NEXT, "SSL_new");
  if (ctx) SSL_CTX_set_keylog_callback(ctx, rwlab_keylog);
  return real_new(ctx);
}
/* CREDSSP_VERSION (fault injection, off unless RWLAB_CREDSSP_VERSION is set): the client's
   TSRequests (MS-CSSP 2.2.1: SEQUENCE { [0] INTEGER version, ... }) claim another version on the
   wire, as an unpatched (CVE-2018-0886) client would; everything else is the client's own. */
int SSL_write(SSL *ssl, const void *buf, int num)
{
  static int (*real_write)(SSL *, const void *, int);
  const char *v = getenv("RWLAB_CREDSSP_VERSION");
  const unsigned char *b = buf;
  int at;
  if (!real_write) real_write = (int (*)(SSL *, const void *, int))dlsym(RTLD_NEXT, "SSL_write");
  if (!v || num < 8 || b[0] != 0x30) return real_write(ssl, buf, num);
  at = b[1] < 0x80 ? 2 : 2 + (b[1] & 0x7f);
  if (at + 5 > num || b[at] != 0xa0 || b[at + 1] != 0x03 || b[at + 2] != 0x02 || b[at + 3] != 0x01)
    return real_write(ssl, buf, num);
  {
    unsigned char *copy = malloc((size_t)num);
    int rc;
    if (!copy) return real_write(ssl, buf, num);
    memcpy(copy, buf, (size_t)num);
    copy[at + 4] = (unsigned char)atoi(v);
    rc = real_write(ssl, copy, num);
    free(copy);
    return rc;
  }
}
EOF_C
  gcc -shared -fPIC -O2 -o "$WORK/keylog.so" "$WORK/keylog.c" -ldl -lssl >"$WORK/keylog-build.log" 2>&1 \
    || die "KEYLOG=1: building the key-log shim failed (gcc + libssl-dev needed, see $WORK/keylog-build.log)"
}

nt_hash() { # MD4(UTF-16LE(password)) as lowercase hex
  local h
  h=$(printf '%s' "$1" | iconv -f UTF-8 -t UTF-16LE | openssl dgst -md4 -provider legacy -provider default 2>/dev/null | awk '{print $NF}') || true
  if [[ ! $h =~ ^[0-9a-f]{32}$ ]]; then
    h=$(printf '%s' "$1" | python3 -c '
import sys, struct
def md4(m):
    def F(x,y,z): return (x&y)|(~x&z)
    def G(x,y,z): return (x&y)|(x&z)|(y&z)
    def H(x,y,z): return x^y^z
    rl=lambda x,n:((x<<n)|(x>>(32-n)))&0xffffffff
    a0,b0,c0,d0=0x67452301,0xefcdab89,0x98badcfe,0x10325476
    ml=len(m)*8; m+=b"\x80"; m+=b"\0"*((56-len(m)%64)%64); m+=struct.pack("<Q",ml)
    for i in range(0,len(m),64):
        X=struct.unpack("<16I",m[i:i+64]); a,b,c,d=a0,b0,c0,d0
        for k in range(16):
            s=[3,7,11,19][k%4]; t=rl((a+F(b,c,d)+X[k])&0xffffffff,s); a,b,c,d=d,t,b,c
        for k in range(16):
            s=[3,5,9,13][k%4]; j=[0,4,8,12,1,5,9,13,2,6,10,14,3,7,11,15][k]
            t=rl((a+G(b,c,d)+X[j]+0x5a827999)&0xffffffff,s); a,b,c,d=d,t,b,c
        for k in range(16):
            s=[3,9,11,15][k%4]; j=[0,8,4,12,2,10,6,14,1,9,5,13,3,11,7,15][k]
            t=rl((a+H(b,c,d)+X[j]+0x6ed9eba1)&0xffffffff,s); a,b,c,d=d,t,b,c
        a0,b0,c0,d0=[(u+v)&0xffffffff for u,v in zip((a0,b0,c0,d0),(a,b,c,d))]
    return struct.pack("<4I",a0,b0,c0,d0).hex()
print(md4(sys.stdin.buffer.read().decode("utf-8").encode("utf-16-le")))')
  fi
  echo "$h"
}

server_listening() { [[ -n $(ip netns exec "$NS_S" ss -Hltn "sport = :$RDP_PORT") ]]; }

start_xrdp() {
  local ini="$WORK/xrdp/xrdp.ini"
  mkdir -p "$WORK/xrdp"
  # private copy of the packaged xrdp.ini; only [Globals]/[Logging] keys are changed
  # (port= also occurs in the session sections, so it is only replaced inside [Globals])
  sed -e "s/^fork=.*/fork=false/" \
      -e "/^\[Globals\]/,/^\[/ s/^port=.*/port=$RDP_PORT/" \
      -e "s/^security_layer=.*/security_layer=$SERVER_SEC/" \
      -e "s/^crypt_level=.*/crypt_level=$XRDP_CRYPT/" \
      -e "s#^certificate=.*#certificate=$WORK/cert.pem#" \
      -e "s#^key_file=.*#key_file=$WORK/key.pem#" \
      -e "s/^ssl_protocols=.*/ssl_protocols=$XRDP_TLS/" \
      -e "${XRDP_CIPHERS:+s/^#*tls_ciphers=.*/tls_ciphers=$XRDP_CIPHERS/}" \
      -e "s#^LogFile=.*#LogFile=$WORK/xrdp/xrdp.log#" \
      -e "s/^LogLevel=.*/LogLevel=DEBUG/" \
      -e "s/^EnableSyslog=.*/EnableSyslog=false/" \
      /etc/xrdp/xrdp.ini >"$ini"
  grep -q "^security_layer=$SERVER_SEC\$" "$ini" || die "could not set security_layer in $ini"
  grep -q "^ssl_protocols=$XRDP_TLS\$" "$ini" || die "could not set ssl_protocols in $ini"
  local run_as=()
  if [[ $KEY_FAULT == unreadable ]]; then
    # The Debian unit runs xrdp as user xrdp; a key_file that is root:root 0600 (or
    # root:ssl-cert 0640 without xrdp in ssl-cert) is the classic mistake. Our key.pem is
    # root:root 0600 already; the log dir must be writable for the unprivileged xrdp.
    need setpriv
    chown xrdp "$WORK/xrdp"
    run_as=(setpriv --reuid=xrdp --regid=xrdp --init-groups)
  fi
  bg_in_ns "$NS_S" "$WORK/xrdp.out" env HOME="$WORK/home-s" timeout -k 2 120 "${run_as[@]}" xrdp --nodaemon --config "$ini"
  wait_for 15 "xrdp to listen on $RDP_PORT" server_listening
}

start_shadow() {
  mkdir -p "$WORK/home-s/.config/freerdp/shadow"
  # pre-seed the shadow server's TLS identity with our throw-away certificate
  cp "$WORK/cert.pem" "$WORK/home-s/.config/freerdp/shadow/shadow.crt"
  cp "$WORK/key.pem" "$WORK/home-s/.config/freerdp/shadow/shadow.key"
  printf '%s::%s:%s:::\n' "$LAB_USER" "00000000000000000000000000000000" "$(nt_hash "$LAB_PASS")" >"$WORK/sam"
  start_xvfb "$NS_S" xvfb-server
  local auth=-auth
  [[ $SERVER_SEC == nla || $SHADOW_AUTH == 1 ]] && auth=+auth
  local shim=()
  if [[ -n $SERVER_CREDSSP_VERSION ]]; then
    build_keylog_shim
    shim=(LD_PRELOAD="$WORK/keylog.so" RWLAB_CREDSSP_VERSION="$SERVER_CREDSSP_VERSION")
  fi
  bg_in_ns "$NS_S" "$WORK/shadow.out" env "${shim[@]}" HOME="$WORK/home-s" XDG_CONFIG_HOME="$WORK/home-s/.config" \
    DISPLAY=":$XDISPLAY" timeout -k 2 120 freerdp-shadow-cli /port:$RDP_PORT /bind-address:$ADDR_S \
    "/sec:$SERVER_SEC" "$auth" "/sam-file:$WORK/sam"
  wait_for 15 "freerdp-shadow-cli to listen on $RDP_PORT" server_listening
}

start_http() {
  # A real TCP service that is not RDP, listening where RDP is expected.
  mkdir -p "$WORK/www"
  bg_in_ns "$NS_S" "$WORK/http.out" timeout -k 2 120 python3 -m http.server "$RDP_PORT" --bind "$ADDR_S" --directory "$WORK/www"
  wait_for 15 "python3 http.server to listen on $RDP_PORT" server_listening
}

start_capture() { # sets TD_PID
  local ns=$NS_C ifname=$IF_C
  if [[ $VANTAGE_EFF == server ]]; then ns=$NS_S ifname=$IF_S; fi
  if [[ $VANTAGE_EFF == router ]]; then ns=$NS_R ifname=$IF_RS; fi
  if [[ $TOPOLOGY == routed ]] && command -v ethtool >/dev/null 2>&1; then
    ip netns exec "$ns" ethtool -k "$ifname" >"$WORK/offload.log" 2>&1 || true
    log "capture interface $ifname: $(grep -E '^(tcp-segmentation|generic-segmentation|generic-receive)-offload:' \
      "$WORK/offload.log" | sed -E 's/-offload//; s/tcp-segmentation/tso/; s/generic-segmentation/gso/; s/generic-receive/gro/' | tr '\n' ' ')"
  fi
  bg_in_ns "$ns" "$WORK/tcpdump.log" timeout -s INT -k 3 90 tcpdump -i "$ifname" -U -n -Z root -w "$WORK/capture.pcap"
  TD_PID=$LAST_PID
  wait_for 10 "tcpdump to start" grep -q "listening on" "$WORK/tcpdump.log"
}

stop_capture() {
  kill -INT "$TD_PID" 2>/dev/null || true
  wait "$TD_PID" 2>/dev/null || true
  grep -E "captured|dropped" "$WORK/tcpdump.log" | sed 's/^/[rwlab] tcpdump: /' >&2 || true
}

run_client() {
  local args=(/v:$ADDR_S:$RDP_PORT "/u:$CLIENT_USER")
  # xrdp: no password, so xrdp shows its login screen instead of trying an autologon
  # through sesman (not running here); the NLA scenarios need the password for CredSSP.
  [[ $CLIENT_PASS == 1 ]] && args+=("/p:$CLIENT_PASSWORD")
  args+=("/cert:$CLIENT_CERT" /client-hostname:rwlab-client /log-level:INFO /size:800x600)
  [[ -n $CLIENT_SEC ]] && args+=("/sec:$CLIENT_SEC")
  args+=("${CLIENT_EXTRA[@]}")
  mkdir -p "$WORK/home-c"
  local envs=(HOME="$WORK/home-c" XDG_CONFIG_HOME="$WORK/home-c/.config" DISPLAY=":$CLIENT_DISPLAY")
  if [[ -n $CLIENT_TLS ]]; then
    client_openssl_conf "$CLIENT_TLS"
    envs+=(OPENSSL_CONF="$WORK/openssl-client.cnf")
  fi
  # the client's OpenSSL default trust store becomes the lab CA alone
  [[ $CLIENT_TRUST == ca ]] && envs+=(SSL_CERT_FILE="$WORK/ca/ca.pem" SSL_CERT_DIR="$WORK/ca/no-such-dir")
  if [[ ${KEYLOG:-0} == 1 || $KEEP_KEYLOG == 1 || -n $CREDSSP_VERSION ]]; then
    build_keylog_shim
    envs+=(LD_PRELOAD="$WORK/keylog.so" RWLAB_KEYLOG_FILE="$WORK/tls-keys.log")
    [[ -n $CREDSSP_VERSION ]] && envs+=(RWLAB_CREDSSP_VERSION="$CREDSSP_VERSION")
  fi
  log "client: ${envs[*]:3} xfreerdp ${args[*]/\/p:*//p:***} (max ${CLIENT_SECS}s)"
  local rc=0 pid
  # background + wait, so that a signal to this script interrupts the wait at once
  ip netns exec "$NS_C" env "${envs[@]}" \
    timeout -s TERM -k 3 "$CLIENT_SECS" xfreerdp "${args[@]}" </dev/null >"$WORK/client.log" 2>&1 9>&- &
  pid=$!
  PIDS+=("$pid")
  if [[ -n $SERVER_STOP_AFTER ]]; then
    # the server is stopped mid-session (SIGINT: its own orderly shutdown), the client keeps running
    ( sleep "$SERVER_STOP_AFTER"; log "stopping the server (SIGINT)"
      pkill -INT -f "freerdp-shadow-cli /port:$RDP_PORT" || pkill -INT -f "xrdp --nodaemon" ) 9>&- &
    PIDS+=("$!")
  fi
  wait "$pid" || rc=$?
  log "client exit status $rc (124 = stopped by the lab's timeout)"
}

record_one() {
  local name=$1 out_dir=$2
  SCENARIO=$name
  scenario_exists "$name" || die "unknown scenario '$name' (see --list)"
  [[ $EUID -eq 0 ]] || die "must run as root"
  for t in ip iptables tcpdump Xvfb xfreerdp openssl iconv ss timeout flock; do need "$t"; done
  configure_scenario "$name"
  [[ $SERVER == xrdp ]] && need xrdp
  [[ $SERVER == shadow ]] && need freerdp-shadow-cli
  VANTAGE_EFF=${VANTAGE:-$DEFAULT_VANTAGE}
  [[ $VANTAGE_EFF == client || $VANTAGE_EFF == server || $VANTAGE_EFF == router ]] \
    || die "VANTAGE must be client, server or router"
  [[ $VANTAGE_EFF != router || $TOPOLOGY == routed ]] || die "VANTAGE=router needs a routed scenario"
  if [[ $TOPOLOGY == routed ]]; then ADDR_C=$ROUTED_ADDR_C ADDR_S=$ROUTED_ADDR_S; fi
  mkdir -p "$out_dir"
  out_dir=$(cd "$out_dir" && pwd)

  # one lab run at a time (fixed namespace names); the lock dies with the process
  exec 9>/run/rwlab-record.lock
  flock -n 9 || die "another record.sh run is active"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  preclean_stale
  WORK=$(mktemp -d /tmp/rwlab.XXXXXX)
  chmod 755 "$WORK"
  mkdir -p "$WORK/home-s" "$WORK/home-c"

  log "scenario $name: server=$SERVER${SERVER_SEC:+($SERVER_SEC)} firewall=$FIREWALL client=/sec:${CLIENT_SEC:-default} vantage=$VANTAGE_EFF"
  [[ $TOPOLOGY == routed ]] && log "routed: bottleneck MTU ${BOTTLENECK_MTU:-1500} on $IF_RC, router ICMP frag-needed $ROUTER_ICMP, loss ${ROUTER_LOSS:-none}, offload $OFFLOAD"
  [[ $SERVER_DF == off || $ROUTER_FRAGS != pass ]] && log "fragmentation: server DF $SERVER_DF, router non-first fragments: $ROUTER_FRAGS"
  setup_network
  offload_off
  make_cert
  case "$SERVER" in
    none) ;;
    xrdp) start_xrdp ;;
    shadow) start_shadow ;;
    http) need python3; start_http ;;
  esac
  setup_firewall
  setup_router
  start_xvfb "$NS_C" xvfb-client
  CLIENT_DISPLAY=$XDISPLAY
  start_capture
  sleep 0.5
  run_client
  sleep 1.5   # let the last FIN/RST exchanges reach the capture
  stop_capture
  router_report

  cp "$WORK/capture.pcap" "$out_dir/$name.pcap"
  chmod 644 "$out_dir/$name.pcap"
  log "wrote $out_dir/$name.pcap ($(stat -c %s "$out_dir/$name.pcap") bytes)"
  if [[ $KEEP_KEYLOG == 1 ]]; then
    [[ -s $WORK/tls-keys.log ]] || die "KEEP_KEYLOG: the client wrote no TLS key log"
    cp "$WORK/tls-keys.log" "$out_dir/$name.keylog"
    chmod 644 "$out_dir/$name.keylog"
    log "wrote $out_dir/$name.keylog ($(wc -l <"$out_dir/$name.keylog") lines)"
  fi
  if [[ $KEEP_SERVER_KEY == 1 ]]; then
    cp "$WORK/key.pem" "$out_dir/$name.server-key.pem"
    chmod 644 "$out_dir/$name.server-key.pem"
    log "wrote $out_dir/$name.server-key.pem"
  fi
}

main() {
  [[ $# -ge 1 ]] || { echo "usage: $0 --list | SCENARIO [OUT_DIR] | all [OUT_DIR]" >&2; exit 2; }
  local out_dir=${2:-$REPO_ROOT/tests/fixtures}
  case "$1" in
    --list|-l) list_scenarios ;;
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    all)
      local e failed=0
      for e in "${SCENARIOS[@]}"; do
        "${BASH_SOURCE[0]}" "${e%%|*}" "$out_dir" || { log "scenario ${e%%|*} FAILED"; failed=1; }
      done
      return $failed ;;
    *) record_one "$1" "$out_dir" ;;
  esac
}

main "$@"
