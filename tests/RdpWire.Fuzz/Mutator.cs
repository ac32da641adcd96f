using System.Buffers.Binary;

namespace RdpWire.Fuzz;

/// <summary>
/// Format-aware mutations of a classic pcap or pcapng seed: it knows where records, IP, TCP,
/// TPKT and TLS headers and their length fields are, so it can lie in exactly those places
/// (0, 1, max, off by one), cut at layer boundaries, splice and reorder records, overlap a TCP
/// segment with different content, and corrupt the file header — besides plain bit and byte flips.
/// </summary>
public sealed class Mutator(Random random)
{
    /// <summary>One packet record of the seed: where its record header, data and layers start.</summary>
    private readonly record struct Record(int Header, int Data, int Length, int Ip, int Tcp, int Payload);

    public static readonly string[] Kinds =
    [
        "flip", "length-field", "truncate-boundary", "splice", "reorder", "overlap", "header-lie", "duplicate",
    ];

    public (byte[] Input, string Kind) Mutate(byte[] seed, byte[] other)
    {
        string kind = Kinds[random.Next(Kinds.Length)];
        var records = Records(seed);
        if (records.Count == 0 || !IsClassicPcap(seed))
        {
            kind = random.Next(2) == 0 ? "flip" : "header-lie";
        }
        byte[] result = kind switch
        {
            "flip" => Flip(seed),
            "length-field" => LengthField(seed, records),
            "truncate-boundary" => TruncateAtBoundary(seed, records),
            "splice" => Splice(seed, records, other),
            "reorder" => Reorder(seed, records),
            "overlap" => Overlap(seed, records),
            "duplicate" => Duplicate(seed, records),
            _ => HeaderLie(seed),
        };
        // Stack a second mutation now and then.
        if (random.Next(4) == 0)
        {
            result = Flip(result);
            kind += "+flip";
        }
        return (result, kind);
    }

    private static bool IsClassicPcap(byte[] b) =>
        b.Length >= 24 && BinaryPrimitives.ReadUInt32LittleEndian(b) is 0xA1B2C3D4 or 0xA1B23C4D;

    /// <summary>Records of a little-endian classic pcap with Ethernet or raw IP, and their layer offsets.</summary>
    private static List<Record> Records(byte[] b)
    {
        var list = new List<Record>();
        if (!IsClassicPcap(b))
        {
            return list;
        }
        uint link = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(20));
        for (int at = 24; at + 16 <= b.Length;)
        {
            int incl = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at + 8));
            if (incl < 0 || at + 16 + incl > b.Length)
            {
                break;
            }
            int data = at + 16, ip = link == 1 ? data + 14 : data, tcp = -1, payload = -1;
            if (ip + 20 <= data + incl && (b[ip] >> 4) == 4)
            {
                tcp = ip + (b[ip] & 0x0F) * 4;
                if (b[ip + 9] == 6 && tcp + 20 <= data + incl)
                {
                    payload = tcp + (b[tcp + 12] >> 4) * 4;
                }
                else
                {
                    tcp = -1;
                }
            }
            list.Add(new Record(at, data, incl, ip, tcp, payload));
            at = data + incl;
        }
        return list;
    }

    private byte[] Flip(byte[] seed)
    {
        var m = (byte[])seed.Clone();
        int flips = 1 + random.Next(8);
        for (int f = 0; f < flips && m.Length > 24; f++)
        {
            int at = 24 + random.Next(m.Length - 24);
            m[at] = random.Next(4) switch
            {
                0 => 0x00,
                1 => 0xFF,
                2 => (byte)(m[at] ^ (1 << random.Next(8))),
                _ => (byte)random.Next(256),
            };
        }
        return m;
    }

    private T Pick<T>(List<T> list) => list[random.Next(list.Count)];

    /// <summary>A length field of some layer set to 0, 1, its maximum, or one off its value.</summary>
    private byte[] LengthField(byte[] seed, List<Record> records)
    {
        var m = (byte[])seed.Clone();
        var withPayload = records.Where(r => r.Payload >= 0 && r.Payload + 5 <= r.Data + r.Length).ToList();
        var r = withPayload.Count > 0 && random.Next(3) > 0 ? Pick(withPayload) : Pick(records);
        var fields = new List<(int At, int Size)> { (r.Header + 8, 4), (r.Header + 12, 4) }; // incl_len, orig_len
        if (r.Ip >= 0 && r.Ip + 4 <= m.Length)
        {
            fields.Add((r.Ip + 2, 2)); // IPv4 total length
            fields.Add((r.Ip, 1));     // version / IHL
        }
        if (r.Tcp >= 0)
        {
            fields.Add((r.Tcp + 12, 1)); // data offset
        }
        if (r.Payload >= 0 && r.Payload + 5 <= r.Data + r.Length)
        {
            fields.Add((r.Payload + 2, 2)); // TPKT length (or TLS version bytes)
            fields.Add((r.Payload + 3, 2)); // TLS record length
            if (r.Payload + 9 <= r.Data + r.Length)
            {
                fields.Add((r.Payload + 6, 3)); // TLS handshake length (24-bit)
            }
        }
        var (at, size) = fields[random.Next(fields.Count)];
        ulong max = size == 4 ? uint.MaxValue : (1UL << (8 * size)) - 1;
        ulong current = Read(m, at, size, littleEndian: at < r.Data);
        ulong value = random.Next(5) switch
        {
            0 => 0,
            1 => 1,
            2 => max,
            3 => (current + 1) & max,
            _ => (current - 1) & max,
        };
        Write(m, at, size, value, littleEndian: at < r.Data);
        return m;
    }

    private static ulong Read(byte[] b, int at, int size, bool littleEndian)
    {
        ulong v = 0;
        for (int i = 0; i < size; i++)
        {
            v |= (ulong)b[at + (littleEndian ? i : size - 1 - i)] << (8 * i);
        }
        return v;
    }

    private static void Write(byte[] b, int at, int size, ulong value, bool littleEndian)
    {
        for (int i = 0; i < size; i++)
        {
            b[at + (littleEndian ? i : size - 1 - i)] = (byte)(value >> (8 * i));
        }
    }

    /// <summary>The file cut inside a record header, an IP or TCP header, or a payload.</summary>
    private byte[] TruncateAtBoundary(byte[] seed, List<Record> records)
    {
        var r = Pick(records);
        int[] cuts = [r.Header, r.Header + 1 + random.Next(15), r.Data, r.Ip + random.Next(20), r.Tcp >= 0 ? r.Tcp + random.Next(20) : r.Data,
            r.Payload >= 0 ? r.Payload + random.Next(Math.Max(1, r.Data + r.Length - r.Payload)) : r.Data + r.Length];
        int cut = Math.Clamp(cuts[random.Next(cuts.Length)], 0, seed.Length);
        return seed[..cut];
    }

    /// <summary>A run of records from another capture inserted between two of this one's.</summary>
    private byte[] Splice(byte[] seed, List<Record> records, byte[] other)
    {
        var theirs = Records(other);
        if (theirs.Count == 0)
        {
            return Flip(seed);
        }
        int from = random.Next(theirs.Count), count = 1 + random.Next(Math.Min(8, theirs.Count - from));
        int start = theirs[from].Header, end = theirs[from + count - 1].Data + theirs[from + count - 1].Length;
        int at = Pick(records).Header;
        return [.. seed.AsSpan(0, at), .. other.AsSpan(start, end - start), .. seed.AsSpan(at)];
    }

    /// <summary>Two records swapped: TCP segments out of order (time stamps kept with their packets).</summary>
    private byte[] Reorder(byte[] seed, List<Record> records)
    {
        if (records.Count < 2)
        {
            return Flip(seed);
        }
        int i = random.Next(records.Count - 1), j = Math.Min(records.Count - 1, i + 1 + random.Next(4));
        var a = records[i];
        var b = records[j];
        var bytesA = seed.AsSpan(a.Header, 16 + a.Length).ToArray();
        var bytesB = seed.AsSpan(b.Header, 16 + b.Length).ToArray();
        var between = seed.AsSpan(a.Data + a.Length, b.Header - (a.Data + a.Length)).ToArray();
        return [.. seed.AsSpan(0, a.Header), .. bytesB, .. between, .. bytesA, .. seed.AsSpan(b.Data + b.Length)];
    }

    /// <summary>A data segment sent again with the same sequence number and different bytes (an overlap that disagrees).</summary>
    private byte[] Overlap(byte[] seed, List<Record> records)
    {
        var data = records.Where(r => r.Payload >= 0 && r.Payload < r.Data + r.Length).ToList();
        if (data.Count == 0)
        {
            return Flip(seed);
        }
        var r = Pick(data);
        var copy = seed.AsSpan(r.Header, 16 + r.Length).ToArray();
        int payloadStart = r.Payload - r.Header;
        for (int k = payloadStart; k < copy.Length; k++)
        {
            if (random.Next(3) == 0)
            {
                copy[k] = (byte)random.Next(256);
            }
        }
        int insertAt = r.Data + r.Length;
        return [.. seed.AsSpan(0, insertAt), .. copy, .. seed.AsSpan(insertAt)];
    }

    /// <summary>Records repeated many times (retransmission storms, duplicate SYNs).</summary>
    private byte[] Duplicate(byte[] seed, List<Record> records)
    {
        var r = Pick(records);
        var copy = seed.AsSpan(r.Header, 16 + r.Length).ToArray();
        int times = 1 + random.Next(64);
        var result = new List<byte>(seed.Length + copy.Length * times);
        result.AddRange(seed.AsSpan(0, r.Data + r.Length).ToArray());
        for (int t = 0; t < times; t++)
        {
            result.AddRange(copy);
        }
        result.AddRange(seed.AsSpan(r.Data + r.Length).ToArray());
        return [.. result];
    }

    /// <summary>The file header lies: magic, version, snaplen or link type (pcap), or a block length (pcapng).</summary>
    private byte[] HeaderLie(byte[] seed)
    {
        var m = (byte[])seed.Clone();
        if (m.Length < 24)
        {
            return m;
        }
        if (!IsClassicPcap(m))
        {
            // pcapng: a block total length, or a byte of the section header.
            int at = random.Next(2) == 0 ? 4 : random.Next(Math.Min(m.Length, 64));
            m[at] = (byte)random.Next(256);
            return m;
        }
        switch (random.Next(5))
        {
            case 0:
                BinaryPrimitives.WriteUInt32LittleEndian(m, random.Next(2) == 0 ? 0xA1B23C4Du : 0x4D3CB2A1u); // ns / swapped magic
                break;
            case 1:
                BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(4), (ushort)random.Next(65536));
                break;
            case 2:
                BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(16), (uint)random.Next(0, 64)); // snaplen shorter than the headers
                break;
            case 3:
                BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(20), (uint)new[] { 0, 101, 113, 276, 147, 9999, 228, 229 }[random.Next(8)]);
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(20), (uint)random.Next());
                break;
        }
        return m;
    }
}
