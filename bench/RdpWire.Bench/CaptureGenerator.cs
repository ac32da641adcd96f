using System.Buffers.Binary;
using RdpWire.Capture;
using RdpWire.Capture.Files;

namespace RdpWire.Bench;

/// <summary>
/// Builds a large, realistic capture from recorded lab fixtures: many sessions interleaved in
/// time, each a copy of one fixture's connection(s) on its own client address and port, the
/// successful ones carrying bulk encrypted session data (TLS application-data records from
/// the server, acknowledged by the client) inserted before their close, so the file is mostly
/// what a gateway capture is mostly: encrypted RDP traffic. Sequence and acknowledgment numbers
/// after the insertion are shifted, so every TCP stream stays consistent. Classic pcap, Ethernet,
/// IPv4, microsecond time stamps. Each template's server gets its own address (10.2.0.N) so the
/// verdicts can be compared with the template's own.
/// </summary>
public sealed class CaptureGenerator
{
    public sealed record Template(string Name, int Weight, bool Bulk);

    /// <summary>The default mix: mostly successful TLS sessions with bulk data, some failures.</summary>
    public static readonly Template[] DefaultTemplates =
    [
        new("tls12-success", 8, true),
        new("tls13-success", 8, true),
        new("tls-success", 4, true),
        new("cert-expired-tls12", 1, false),
        new("nla-required-tls-offered", 1, false),
        new("port-closed", 1, false),
        new("syn-dropped", 1, false),
        new("x224-no-confirm", 1, false),
        new("nla-wrong-password", 1, false),
    ];

    private const int EthernetHeader = 14;
    private const int MaxSegment = 1448;
    private const int BulkRecord = 16 * 1024;
    private readonly List<(Template Template, List<Packet> Packets)> _templates = [];
    private readonly Random _random = new(20261122);
    private readonly byte[] _noise = new byte[BulkRecord + 64];

    public CaptureGenerator(string fixturesDir, IEnumerable<Template> templates)
    {
        _random.NextBytes(_noise);
        foreach (var t in templates)
        {
            var packets = new List<Packet>();
            using var source = CaptureFile.Open(Path.Combine(fixturesDir, t.Name + ".pcap"));
            while (source.TryReadNext(out var p))
            {
                packets.Add(new Packet(p.TimestampTicks, p.Data.ToArray()));
            }
            _templates.Add((t, packets));
        }
    }

    /// <summary>Server address of template <paramref name="index"/> in generated captures.</summary>
    public static uint ServerAddress(int index) => 0x0A020000u | (uint)(index + 1); // 10.2.0.N

    public IReadOnlyList<Template> Templates => _templates.Select(t => t.Template).ToList();

    /// <summary>
    /// Writes about <paramref name="targetBytes"/> of capture with <paramref name="concurrentSessions"/>
    /// sessions open at once from start to end, as on a gateway: the first ones start
    /// <paramref name="startSpacing"/> apart, and each session that ends is replaced by a new one,
    /// so the mix of open connections (and the analyzer's state) is the same at every size once the
    /// first wave is running. A bulk session carries <paramref name="bulkBytesPerSession"/> of server
    /// data at one segment per <paramref name="segmentSpacing"/>. Returns the sessions per template.
    /// </summary>
    public Dictionary<string, int> Write(string path, long targetBytes, long bulkBytesPerSession,
        int concurrentSessions, TimeSpan startSpacing, TimeSpan segmentSpacing)
    {
        var counts = _templates.ToDictionary(t => t.Template.Name, _ => 0);
        using var output = new BufferedStream(File.Create(path), 1 << 20);
        WriteFileHeader(output);
        var queue = new PriorityQueue<IEnumerator<Packet>, long>();
        long start = new DateTime(2026, 11, 22, 9, 0, 0, DateTimeKind.Utc).Ticks;
        int totalWeight = _templates.Sum(t => t.Template.Weight);
        int session = 0;
        // Bytes the started sessions will write in all: new sessions start only while it is below the target.
        long committed = 24;
        var header = new byte[16];

        void StartSession(long at)
        {
            if (committed >= targetBytes)
            {
                return;
            }
            int pick = _random.Next(totalWeight), index = 0;
            while (pick >= _templates[index].Template.Weight)
            {
                pick -= _templates[index].Template.Weight;
                index++;
            }
            var (template, packets) = _templates[index];
            var e = Session(index, packets, template.Bulk ? bulkBytesPerSession : 0, session, at, segmentSpacing).GetEnumerator();
            if (e.MoveNext())
            {
                queue.Enqueue(e, e.Current.Ticks);
            }
            counts[template.Name]++;
            committed += packets.Sum(p => 16L + p.Data.Length)
                + (template.Bulk ? BulkPayload(bulkBytesPerSession) / MaxSegment * (16 + EthernetHeader + 40 + MaxSegment + (16 + EthernetHeader + 40) / 2) : 0);
            session++;
        }

        for (int i = 0; i < concurrentSessions; i++)
        {
            StartSession(start + i * startSpacing.Ticks);
        }
        while (queue.TryDequeue(out var next, out _))
        {
            var packet = next.Current;
            long micros = (packet.Ticks - DateTime.UnixEpoch.Ticks) / 10;
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)(micros / 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), (uint)(micros % 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)packet.Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)packet.Data.Length);
            output.Write(header);
            output.Write(packet.Data);
            if (next.MoveNext())
            {
                queue.Enqueue(next, next.Current.Ticks);
            }
            else
            {
                // This session's last packet: another client connects in its place.
                StartSession(packet.Ticks + startSpacing.Ticks);
            }
        }
        return counts;
    }

    private static void WriteFileHeader(Stream output)
    {
        var h = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), 262144);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), 1); // LINKTYPE_ETHERNET
        output.Write(h);
    }

    /// <summary>One copy of a template: addresses and ports rewritten, bulk inserted before the first FIN/RST.</summary>
    private IEnumerable<Packet> Session(int templateIndex, List<Packet> packets, long bulkBytes, int session, long startTicks, TimeSpan spacing)
    {
        uint clientIp = 0x0A010000u + (uint)(session % 60000) + 1 + (uint)(session / 60000 << 16); // 10.1.x.y
        uint serverIp = ServerAddress(templateIndex);
        ushort serverPort = 3389;
        var clientPorts = new Dictionary<ushort, ushort>();
        long first = packets[0].Ticks;
        uint shift = 0; // server sequence shift after the bulk
        bool inserted = bulkBytes == 0;
        long lastTicks = startTicks;
        foreach (var template in packets)
        {
            var data = (byte[])template.Data.Clone();
            if (!Tcp(data, out int ip, out int tcp, out bool fromClient, serverPort))
            {
                continue;
            }
            long ticks = startTicks + (template.Ticks - first) + (inserted && bulkBytes > 0 ? BulkDuration(bulkBytes, spacing) : 0);
            byte flags = data[tcp + 13];
            if (!inserted && (flags & 0x05) != 0)
            {
                // Bulk server data goes in just before the first FIN or RST.
                uint serverSeq = 0, clientSeq = 0;
                FindNextSequences(packets, serverPort, template, ref serverSeq, ref clientSeq);
                foreach (var bulk in Bulk(data, ip, tcp, fromClient, serverSeq, clientSeq, bulkBytes, lastTicks, spacing))
                {
                    yield return bulk;
                }
                shift = (uint)BulkPayload(bulkBytes);
                inserted = true;
                ticks += BulkDuration(bulkBytes, spacing);
            }
            Rewrite(data, ip, tcp, fromClient, clientIp, serverIp, clientPorts, session);
            if (shift != 0)
            {
                int seqAt = fromClient ? tcp + 8 : tcp + 4; // client acks, server sequences move
                if ((fromClient && (flags & 0x10) != 0) || !fromClient)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(seqAt), BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(seqAt)) + shift);
                }
            }
            lastTicks = ticks;
            yield return new Packet(ticks, data);
        }

        IEnumerable<Packet> Bulk(byte[] like, int ip, int tcp, bool likeFromClient, uint serverSeq, uint clientSeq, long bytes, long at, TimeSpan gap)
        {
            long total = BulkPayload(bytes), sent = 0;
            int record = 0;
            var stream = new byte[MaxSegment];
            while (sent < total)
            {
                int n = (int)Math.Min(MaxSegment, total - sent);
                FillRecordStream(stream.AsSpan(0, n), sent);
                at += gap.Ticks;
                yield return Segment(false, serverSeq + (uint)sent, clientSeq, stream.AsSpan(0, n), at);
                sent += n;
                if (++record % 2 == 0 || sent == total)
                {
                    yield return Segment(true, clientSeq, serverSeq + (uint)sent, [], at + 100);
                }
            }

            Packet Segment(bool fromClient, uint seq, uint ack, ReadOnlySpan<byte> payload, long ticks)
            {
                var frame = new byte[EthernetHeader + 20 + 20 + payload.Length];
                like.AsSpan(0, EthernetHeader).CopyTo(frame);
                frame[EthernetHeader] = 0x45;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(EthernetHeader + 2), (ushort)(40 + payload.Length));
                frame[EthernetHeader + 6] = 0x40; // DF
                frame[EthernetHeader + 8] = 64;
                frame[EthernetHeader + 9] = 6;
                int t = EthernetHeader + 20;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(t), fromClient ? (ushort)50000 : serverPort);
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(t + 2), fromClient ? serverPort : (ushort)50000);
                BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(t + 4), seq);
                BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(t + 8), ack);
                frame[t + 12] = 0x50;
                frame[t + 13] = payload.Length > 0 ? (byte)0x18 : (byte)0x10;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(t + 14), 512);
                payload.CopyTo(frame.AsSpan(t + 20));
                // Addresses and ports of the session (the template's client port stands for this session's).
                ushort templateClientPort = likeFromClient
                    ? BinaryPrimitives.ReadUInt16BigEndian(like.AsSpan(tcp))
                    : BinaryPrimitives.ReadUInt16BigEndian(like.AsSpan(tcp + 2));
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(fromClient ? t : t + 2), templateClientPort);
                bool sourceIsClient = fromClient;
                Rewrite(frame, EthernetHeader, t, sourceIsClient, clientIp, serverIp, clientPorts, session);
                return new Packet(ticks, frame);
            }
        }
    }

    /// <summary>The server stream as TLS 1.2 application-data records of 16 KiB, cut at segment boundaries.</summary>
    private void FillRecordStream(Span<byte> segment, long offset)
    {
        const int recordWithHeader = BulkRecord + 5;
        for (int i = 0; i < segment.Length; i++)
        {
            long at = (offset + i) % recordWithHeader;
            segment[i] = at switch
            {
                0 => 23,
                1 => 3,
                2 => 3,
                3 => (byte)(BulkRecord >> 8),
                4 => unchecked((byte)BulkRecord),
                _ => _noise[at],
            };
        }
    }

    /// <summary>Whole records only, so the stream stays parseable at the close.</summary>
    private static long BulkPayload(long bytes) => bytes / (BulkRecord + 5) * (BulkRecord + 5);

    private static long BulkDuration(long bytes, TimeSpan spacing) => (BulkPayload(bytes) / MaxSegment + 2) * spacing.Ticks + 200;

    /// <summary>The next sequence number of each side at the template packet (its own sequence numbers tell).</summary>
    private static void FindNextSequences(List<Packet> packets, ushort serverPort, Packet at, ref uint serverSeq, ref uint clientSeq)
    {
        bool haveServer = false, haveClient = false;
        foreach (var p in packets)
        {
            if (!Tcp(p.Data, out _, out int tcp, out bool fromClient, serverPort))
            {
                continue;
            }
            int ipStart = EthernetHeader;
            int ipTotal = BinaryPrimitives.ReadUInt16BigEndian(p.Data.AsSpan(ipStart + 2));
            int tcpHeader = (p.Data[tcp + 12] >> 4) * 4;
            int payload = ipTotal - (tcp - ipStart) - tcpHeader;
            byte flags = p.Data[tcp + 13];
            uint next = BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(tcp + 4)) + (uint)payload + ((flags & 0x02) != 0 ? 1u : 0u);
            if (ReferenceEquals(p.Data, at.Data))
            {
                if (fromClient)
                {
                    clientSeq = BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(tcp + 4));
                    haveClient = true;
                }
                else
                {
                    serverSeq = BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(tcp + 4));
                    haveServer = true;
                }
                if (!haveServer)
                {
                    serverSeq = BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(tcp + 8));
                }
                if (!haveClient)
                {
                    clientSeq = BinaryPrimitives.ReadUInt32BigEndian(p.Data.AsSpan(tcp + 8));
                }
                return;
            }
            if (fromClient)
            {
                clientSeq = next;
                haveClient = true;
            }
            else
            {
                serverSeq = next;
                haveServer = true;
            }
        }
    }

    private static bool Tcp(byte[] frame, out int ip, out int tcp, out bool fromClient, ushort serverPort)
    {
        ip = EthernetHeader;
        tcp = 0;
        fromClient = false;
        if (frame.Length < EthernetHeader + 40 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != 0x0800 || frame[ip + 9] != 6)
        {
            return false;
        }
        tcp = ip + (frame[ip] & 0x0F) * 4;
        fromClient = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(tcp + 2)) == serverPort;
        return true;
    }

    private static void Rewrite(byte[] frame, int ip, int tcp, bool fromClient, uint clientIp, uint serverIp,
        Dictionary<ushort, ushort> clientPorts, int session)
    {
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(ip + 12), fromClient ? clientIp : serverIp);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(ip + 16), fromClient ? serverIp : clientIp);
        int portAt = fromClient ? tcp : tcp + 2;
        ushort templatePort = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(portAt));
        if (!clientPorts.TryGetValue(templatePort, out ushort port))
        {
            port = (ushort)(20000 + (session * 7 + clientPorts.Count) % 40000);
            clientPorts[templatePort] = port;
        }
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(portAt), port);
        // IPv4 header checksum (RFC 791); the TCP checksum is left as recorded (analyzers do not check it by default).
        frame[ip + 10] = 0;
        frame[ip + 11] = 0;
        int headerLength = (frame[ip] & 0x0F) * 4;
        uint sum = 0;
        for (int i = 0; i < headerLength; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(ip + i));
        }
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(ip + 10), (ushort)~sum);
    }

    public readonly record struct Packet(long Ticks, byte[] Data);
}
