#!/usr/bin/env bash
# Throughput and memory of `rdpwire analyze --json` on generated captures, side by side with tshark.
#
#   bench/run.sh [SIZE ...]      sizes like 500M or 5G (default: 500M)
#
# For each size: builds (once) a capture from the recorded fixtures with bench/RdpWire.Bench
# (hundreds of interleaved sessions, mostly encrypted bulk data, some failures), checks that every
# generated session has its template fixture's verdict, reads the file once into the page cache,
# then times the whole process: wall seconds, MB/s and peak resident memory (/usr/bin/time), and
# the same for tshark with the issue's display filter when tshark is installed.
# Captures go to $BENCH_DIR (default /tmp). The BenchmarkDotNet suite is separate:
#   dotnet run -c Release --project bench/RdpWire.Bench -- bdn --filter '*'
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dir=${BENCH_DIR:-/tmp}
dotnet build -c Release -v quiet -nologo src/Cli/Cli.csproj >/dev/null
dotnet build -c Release -v quiet -nologo bench/RdpWire.Bench/RdpWire.Bench.csproj >/dev/null
rdpwire=(dotnet src/Cli/bin/Release/net10.0/rdpwire.dll)
bench=bench/RdpWire.Bench/bin/Release/net10.0/RdpWire.Bench
filter='rdp || tls.handshake.type || tls.alert_message || tcp.analysis.retransmission || icmp'

measure() { # measure OUTFILE cmd... -> "seconds peak_kb"
  local out=$1; shift
  /usr/bin/time -f '%e %M' -o "$out.time" "$@" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; return 1; }
  cat "$out.time"
}

printf '%-6s %10s %9s %10s %10s %12s %9s %8s\n' size bytes seconds 'MB/s' 'peak MB' 'tshark s' 'tshark MB' ratio
for size in "${@:-500M}"; do
  file="$dir/rdpwire-bench-$size.pcap"
  [[ -s $file ]] || "$bench" generate "$file" "$size" >&2
  "$bench" verdicts "$file" | tail -n 1 >&2
  cat "$file" >/dev/null
  bytes=$(stat -c %s "$file")
  read -r secs peak < <(measure "$dir/rdpwire-run" "${rdpwire[@]}" analyze --json "$file")
  tsecs=- tpeak=- ratio=-
  if command -v tshark >/dev/null 2>&1; then
    read -r tsecs tpeak < <(measure "$dir/tshark-run" tshark -r "$file" -q -Y "$filter")
    ratio=$(awk -v a="$tsecs" -v b="$secs" 'BEGIN { printf "%.1fx", a / b }')
    tpeak=$(( tpeak / 1024 ))
  fi
  mbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / 1e6 / s }')
  printf '%-6s %10s %9s %10s %10s %12s %9s %8s\n' "$size" "$bytes" "$secs" "$mbps" $(( peak / 1024 )) "$tsecs" "$tpeak" "$ratio"
done
