using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using RdpWire.RdpParser.Mcs;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.Tpkt;
using RdpWire.RdpParser.X224;

namespace RdpWire.RdpParser.Streams;

/// <summary>
/// Frames one direction of an RDP connection as it appears on TCP: TPKT-wrapped X.224
/// (T.123 8, X.224 13), TLS records once the negotiation switched to TLS or CredSSP, and
/// fast-path PDUs under Standard RDP Security (MS-RDPBCGR 2.2.8.1.2, 2.2.9.1.2). It reads
/// what the reassembler wrote to the pipe, reports each message with its stream range, and
/// tells the pipe exactly what it consumed. TLS record payloads are skipped by length as
/// they arrive, so a direction never buffers more than one TPKT (at most 64 KiB).
/// </summary>
public sealed class RdpStreamParser
{
    private readonly StreamDirection _direction;
    private readonly IRdpStreamEvents _events;
    private Mode _mode = Mode.Framing;
    private bool _inTls;
    private bool _inStandardSecurity;
    private readonly TlsSessionState _tls;
    private int _headerBytesLeft;
    private bool _collectHandshake;
    private byte[]? _handshake;
    private int _handshakeLength;
    private bool _handshakeBroken;
    private bool _collectCipher;
    private byte[]? _cipher;
    private int _cipherLength;
    private readonly bool _inner;
    private RdpStreamParser? _innerParser;
    private System.IO.Pipelines.Pipe? _innerPipe;
    private StreamRange? _outerRange;
    private bool _sawCredSsp;
    private long _skipRemaining;
    private long _recordStart;
    private TlsRecordSummary _pendingRecord;

    /// <summary>Default cap: a plaintext handshake message larger than this is not reassembled (certificate chains are far smaller).</summary>
    public const int MaxHandshakeMessageBytes = 256 * 1024;

    /// <param name="tls">Shared by the two directions of one connection, so each knows when the other encrypts.</param>
    public RdpStreamParser(StreamDirection direction, IRdpStreamEvents events, TlsSessionState? tls = null)
        : this(direction, events, tls, inner: false)
    {
    }

    /// <param name="inner">Parses decrypted TLS application data: CredSSP TSRequests (DER), the Early
    /// User Authorization Result, then TPKT/MCS and fast-path; events carry the outer record's range.</param>
    private RdpStreamParser(StreamDirection direction, IRdpStreamEvents events, TlsSessionState? tls, bool inner)
    {
        _direction = direction;
        _events = events;
        _tls = tls ?? new TlsSessionState();
        _inner = inner;
        _inTls = false;
    }

    private enum Mode : byte
    {
        Framing,
        SkippingTlsRecord,
        SkippingFastPath,
        Lost,
    }

    /// <summary>Stream offset of the first byte not yet consumed.</summary>
    public long Offset { get; private set; }

    /// <summary>True once the parser lost the framing (malformed bytes or a gap) and stopped reading.</summary>
    public bool IsLost => _mode == Mode.Lost;

    /// <summary>Bytes consumed without being parsed because the framing was lost.</summary>
    public long BytesIgnored { get; private set; }

    /// <summary>Parses everything complete in the pipe and consumes it.</summary>
    public void Drain(PipeReader reader)
    {
        if (!reader.TryRead(out var result))
        {
            return;
        }
        var buffer = result.Buffer;
        long consumed = Parse(buffer);
        reader.AdvanceTo(buffer.GetPosition(consumed), buffer.End);
    }

    /// <summary>
    /// True when the next stream bytes may be handed to <see cref="TakeDirect"/> instead of the
    /// pipe: an outer TLS stream between records or inside a record it neither collects nor
    /// decrypts. <see cref="TakeDirect"/> still takes only what it can frame by itself.
    /// </summary>
    public bool CanTakeDirect => !_inner && _inTls && !_inStandardSecurity
        && (_mode == Mode.Framing || (_mode == Mode.SkippingTlsRecord && !_collectHandshake && !_collectCipher));

    /// <summary>
    /// The skip path for bulk session data: consumes in-order stream bytes straight from a TCP
    /// segment, with nothing buffered in the pipe before them, while they are application-data
    /// records this connection cannot decrypt (RFC 5246 6.2.1: each is skipped by its length).
    /// Stops at the first byte it cannot frame alone (a record header cut by the segment's end,
    /// or any other record type) and returns the bytes consumed; the caller puts the rest in the
    /// pipe, where <see cref="Drain"/> parses them as usual. The events are the same either way.
    /// </summary>
    public int TakeDirect(ReadOnlySpan<byte> bytes)
    {
        int pos = 0;
        long before = Offset;
        while (pos < bytes.Length && CanTakeDirect)
        {
            if (_mode == Mode.Framing)
            {
                if (!TlsRecordHeader.TryRead(bytes[pos..], out var header) || header.ContentType != TlsContentType.ApplicationData
                    || !header.IsValid || _tls.Decryption?.For(_direction) is not null || !Encrypting(header.ContentType))
                {
                    break;
                }
                _collectHandshake = false;
                _collectCipher = false;
                BeginTlsRecord(new TlsRecordSummary(header, null, null, null, true, []));
            }
            int n = (int)Math.Min(_skipRemaining, bytes.Length - pos);
            _skipRemaining -= n;
            Offset += n;
            pos += n;
            if (_skipRemaining == 0)
            {
                _events.OnTlsRecord(_direction, new StreamRange(_recordStart, Offset), _pendingRecord);
                _mode = Mode.Framing;
            }
        }
        BytesTakenDirect += Offset - before;
        return pos;
    }

    /// <summary>Bytes consumed through <see cref="TakeDirect"/>, without the pipe.</summary>
    public long BytesTakenDirect { get; private set; }

    /// <summary>
    /// A hole in the stream at <paramref name="gapOffset"/>: complete messages before it were
    /// already parsed; nothing after it can be framed with certainty, so the parser stops.
    /// </summary>
    public void OnGap(long gapOffset)
    {
        if (_mode != Mode.Lost)
        {
            _events.OnMalformed(_direction, gapOffset, "bytes missing from the capture (TCP gap); stopped parsing this direction");
            _mode = Mode.Lost;
        }
    }

    /// <summary>Parses complete messages at the start of <paramref name="buffer"/>; returns the bytes consumed.</summary>
    public long Parse(in ReadOnlySequence<byte> buffer)
    {
        long pos = 0;
        while (pos < buffer.Length)
        {
            var rest = buffer.Slice(pos);
            long step = _mode switch
            {
                Mode.Lost => Ignore(rest.Length),
                Mode.SkippingTlsRecord or Mode.SkippingFastPath => Skip(rest),
                _ => FrameOne(rest),
            };
            if (step == 0)
            {
                if (_mode == Mode.Lost)
                {
                    continue;
                }
                break;
            }
            pos += step;
        }
        return pos;
    }

    private long Ignore(long available)
    {
        Offset += available;
        BytesIgnored += available;
        return available;
    }

    private long Skip(in ReadOnlySequence<byte> rest)
    {
        long n = Math.Min(_skipRemaining, rest.Length);
        if (_mode == Mode.SkippingTlsRecord && (_collectHandshake || _collectCipher))
        {
            int header = (int)Math.Min(_headerBytesLeft, n);
            _headerBytesLeft -= header;
            if (n > header)
            {
                if (_collectCipher)
                {
                    var part = rest.Slice(header, n - header);
                    part.CopyTo(_cipher.AsSpan(_cipherLength));
                    _cipherLength += (int)part.Length;
                }
                else
                {
                    AppendHandshake(rest.Slice(header, n - header));
                }
            }
        }
        _skipRemaining -= n;
        Offset += n;
        if (_skipRemaining == 0)
        {
            var range = _mode == Mode.SkippingFastPath ? OuterOr(_recordStart, Offset) : new StreamRange(_recordStart, Offset);
            if (_mode == Mode.SkippingTlsRecord)
            {
                if (_collectCipher)
                {
                    DecryptRecord(range);
                }
                else
                {
                    var messages = _collectHandshake ? TakeHandshakeMessages() : [];
                    _events.OnTlsRecord(_direction, range, _pendingRecord with { HandshakeMessages = messages });
                }
            }
            else
            {
                _events.OnFastPath(_direction, range);
            }
            _mode = Mode.Framing;
        }
        return n;
    }

    private void AppendHandshake(in ReadOnlySequence<byte> bytes)
    {
        if (_handshakeBroken)
        {
            return;
        }
        int needed = _handshakeLength + (int)bytes.Length;
        if (needed > _tls.Limits.MaxHandshakeMessageBytes + 4)
        {
            _handshakeBroken = true;
            ReleaseHandshake();
            return;
        }
        if (_handshake is null || _handshake.Length < needed)
        {
            var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
            if (_handshake is not null)
            {
                _handshake.AsSpan(0, _handshakeLength).CopyTo(bigger);
                System.Buffers.ArrayPool<byte>.Shared.Return(_handshake);
            }
            _handshake = bigger;
        }
        bytes.CopyTo(_handshake.AsSpan(_handshakeLength));
        _handshakeLength = needed;
    }

    /// <summary>Cuts every complete handshake message out of the reassembly buffer.</summary>
    private IReadOnlyList<TlsHandshakeMessage> TakeHandshakeMessages()
    {
        List<TlsHandshakeMessage>? messages = null;
        int at = 0;
        while (_handshake is not null && _handshakeLength - at >= 4)
        {
            var span = _handshake.AsSpan(at, _handshakeLength - at);
            int length = (span[1] << 16) | (span[2] << 8) | span[3];
            if (length > _tls.Limits.MaxHandshakeMessageBytes)
            {
                _handshakeBroken = true;
                break;
            }
            if (span.Length < 4 + length)
            {
                break;
            }
            var message = TlsHandshakeMessage.Parse((TlsHandshakeType)span[0], span.Slice(4, length), limits: _tls.Limits);
            (messages ??= []).Add(message);
            if (_tls.Decryption is { } decryption)
            {
                decryption.OnHandshakeMessage((TlsHandshakeType)span[0], span[..(4 + length)], message);
                if (message.ClientHello is { } ch && message.Error is null && _direction == StreamDirection.ClientToServer)
                {
                    decryption.ClientHello = ch;
                }
                if (message.ServerHello is { IsHelloRetryRequest: false } sh && message.Error is null && _direction == StreamDirection.ServerToClient)
                {
                    decryption.ServerHello = sh;
                }
            }
            if (_direction == StreamDirection.ServerToClient && message.ServerHello is { } hello && message.Error is null)
            {
                _tls.NegotiatedVersion = hello.NegotiatedVersion;
                _tls.AwaitingSecondClientHello = hello.IsHelloRetryRequest;
                // TLS 1.3: everything the server sends after its ServerHello is ciphertext.
                _tls.ServerEncrypting |= _tls.IsTls13 && !hello.IsHelloRetryRequest;
            }
            at += 4 + length;
        }
        if (_handshakeBroken)
        {
            // Reported once; this direction's handshake is no longer collected.
            _collectHandshake = false;
            ReleaseHandshake();
            (messages ??= []).Add(new TlsHandshakeMessage
            {
                Type = (TlsHandshakeType)255,
                Length = -1,
                Error = $"a handshake message exceeds the {_tls.Limits.MaxHandshakeMessageBytes}-byte limit; the rest of this direction's handshake is not parsed",
            });
            return messages;
        }
        if (at > 0 && _handshake is not null)
        {
            _handshake.AsSpan(at, _handshakeLength - at).CopyTo(_handshake);
            _handshakeLength -= at;
        }
        if (_handshakeLength == 0)
        {
            ReleaseHandshake();
        }
        return (IReadOnlyList<TlsHandshakeMessage>?)messages ?? [];
    }

    private void ReleaseHandshake()
    {
        if (_handshake is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_handshake);
            _handshake = null;
        }
        _handshakeLength = 0;
    }

    /// <summary>Frames the message at the start of <paramref name="rest"/>; 0 when more bytes are needed.</summary>
    private long FrameOne(in ReadOnlySequence<byte> rest)
    {
        if (rest.Length < 2)
        {
            return 0;
        }
        var head = rest.FirstSpan.Length >= 2 ? rest.FirstSpan : rest.Slice(0, 2).ToArray();
        byte b0 = head[0];
        // 0x03 is never a TLS content type, so a TPKT can follow TLS records unambiguously: a
        // server whose TLS start failed falls back to X.224/MCS (e.g. a Disconnect Ultimatum).
        if (b0 == TpktHeader.Version3)
        {
            return FrameTpkt(rest);
        }
        if (_inner && b0 == CredSsp.Asn1Bytes.SequenceTag)
        {
            return FrameTsRequest(rest);
        }
        if (_inner && _sawCredSsp && _direction == StreamDirection.ServerToClient && rest.Length >= 4 && !_inStandardSecurity
            && LooksLikeEarlyUserAuthorization(rest))
        {
            return FrameEarlyUserAuthorization(rest);
        }
        if (!_inner && !_inStandardSecurity && TlsRecordHeader.LooksLikeRecord(b0, head[1]))
        {
            return FrameTlsRecord(rest);
        }
        if (_inStandardSecurity && (b0 & 0x03) == 0)
        {
            return FrameFastPath(rest);
        }
        return Malformed((_inTls
            ? $"byte 0x{b0:X2} where a TLS record header was expected"
            : $"byte 0x{b0:X2} where a TPKT header (0x03) was expected") + $"; the bytes begin {Preview(rest)}");
    }

    /// <summary>Up to 24 bytes as text when they are printable ASCII (a banner, an HTTP line), else hex.</summary>
    private static string Preview(in ReadOnlySequence<byte> bytes)
    {
        Span<byte> head = stackalloc byte[24];
        int n = (int)Math.Min(head.Length, bytes.Length);
        bytes.Slice(0, n).CopyTo(head);
        head = head[..n];
        int printable = 0;
        foreach (byte b in head)
        {
            if (b is >= 0x20 and < 0x7F or (byte)'\r' or (byte)'\n' or (byte)'\t')
            {
                printable++;
            }
        }
        if (printable == n && n > 0)
        {
            var text = System.Text.Encoding.ASCII.GetString(head).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
            return $"\"{text}\"";
        }
        return Convert.ToHexString(head);
    }

    private long FrameTpkt(in ReadOnlySequence<byte> rest)
    {
        _sawCredSsp = false; // MCS has begun: no Early User Authorization Result can follow
        var reader = new SequenceReader<byte>(rest);
        var status = TpktHeader.TryReadPacket(ref reader, out var tpkt, out var packet);
        if (status == OperationStatus.NeedMoreData)
        {
            return 0;
        }
        if (status == OperationStatus.InvalidData)
        {
            return Malformed($"TPKT length {tpkt.Length} is shorter than the 7-byte minimum");
        }
        byte[]? rented = null;
        ReadOnlySpan<byte> span;
        if (packet.IsSingleSegment)
        {
            span = packet.FirstSpan;
        }
        else
        {
            rented = ArrayPool<byte>.Shared.Rent(tpkt.Length);
            packet.CopyTo(rented);
            span = rented.AsSpan(0, tpkt.Length);
        }
        try
        {
            var range = OuterOr(Offset, Offset + tpkt.Length);
            Dispatch(span, range);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        if (_mode == Mode.Lost)
        {
            return Ignore(tpkt.Length);
        }
        Offset += tpkt.Length;
        return tpkt.Length;
    }

    private void Dispatch(ReadOnlySpan<byte> packet, StreamRange range)
    {
        var x224 = packet[TpktHeader.Size..];
        byte li = x224[0];
        byte code = x224[1];
        switch ((X224TpduCode)(code & 0xF0))
        {
            case X224TpduCode.ConnectionRequest:
                _events.OnConnectionRequest(_direction, range, X224ConnectionRequest.Parse(packet));
                break;
            case X224TpduCode.ConnectionConfirm:
                var confirm = X224ConnectionConfirm.Parse(packet);
                _events.OnConnectionConfirm(_direction, range, confirm);
                break;
            case X224TpduCode.DisconnectRequest:
                _events.OnDisconnectRequest(_direction, range, x224.Length > 6 ? x224[6] : (byte)0);
                break;
            case X224TpduCode.Data when li == 2:
                // X.224 13.7 class 0 DT: LI=2, code 0xF0, EOT/NR octet, then user data (MCS).
                _inStandardSecurity = true;
                var mcs = McsPduHeader.Classify(x224[3..]);
                _events.OnX224Data(_direction, range, mcs);
                if (mcs.Kind is McsPduKind.ConnectInitial or McsPduKind.ConnectResponse && McsConnectPdu.TryParse(x224[3..]) is { } connect)
                {
                    _events.OnMcsConnect(_direction, range, connect);
                }
                if (mcs.Kind is McsPduKind.SendDataRequest or McsPduKind.SendDataIndication && Rdp.SlowPathPdu.TryGetUserData(x224[3..], out var userData))
                {
                    _events.OnRdpPdu(_direction, range, Rdp.SlowPathPdu.Classify(userData) with { ChannelId = Rdp.SlowPathPdu.ChannelId(x224[3..]) });
                }
                break;
            default:
                Malformed($"X.224 TPDU code 0x{code:X2} with length indicator {li} is not one RDP uses");
                break;
        }
    }

    private long FrameTlsRecord(in ReadOnlySequence<byte> rest)
    {
        var reader = new SequenceReader<byte>(rest);
        if (!TlsRecordHeader.TryRead(ref reader, out var header))
        {
            return 0;
        }
        if (!header.IsValid)
        {
            return Malformed($"TLS record of type {(byte)header.ContentType} claims {header.Length} bytes, over the {TlsRecordHeader.MaxFragmentLength}-byte limit");
        }
        // The record layer plus up to 2 payload bytes tell the type of a plaintext handshake
        // message or alert; wait for them (or the whole record, if shorter).
        int peek = Math.Min(2, (int)header.Length);
        Span<byte> first = stackalloc byte[2];
        if (!reader.TryCopyTo(first[..peek]))
        {
            return 0;
        }
        TlsHandshakeType? handshakeType = null;
        byte? alertLevel = null, alertDescription = null;
        bool encrypted = Encrypting(header.ContentType);
        if (!encrypted && peek >= 1 && header.ContentType == TlsContentType.Handshake)
        {
            handshakeType = (TlsHandshakeType)first[0];
        }
        if (!encrypted && header.ContentType == TlsContentType.Alert && header.Length == 2)
        {
            alertLevel = first[0];
            alertDescription = first[1];
        }
        if (header.ContentType == TlsContentType.ChangeCipherSpec && !_tls.IsTls13)
        {
            // RFC 5246 7.1: this side's records after ChangeCipherSpec use the new keys.
            if (_direction == StreamDirection.ServerToClient)
            {
                _tls.ServerEncrypting = true;
            }
            else
            {
                _tls.ClientEncrypting = true;
            }
        }
        _inTls = true;
        _collectHandshake = header.ContentType == TlsContentType.Handshake && !encrypted && !_handshakeBroken;
        _collectCipher = encrypted && header.ContentType != TlsContentType.ChangeCipherSpec && _tls.Decryption?.For(_direction) is not null;
        if (_collectCipher)
        {
            _cipher ??= ArrayPool<byte>.Shared.Rent(TlsRecordHeader.MaxFragmentLength);
            _cipherLength = 0;
        }
        BeginTlsRecord(new TlsRecordSummary(header, handshakeType, alertLevel, alertDescription, encrypted, []));
        return Skip(rest);
    }

    /// <summary>Skips the record whose header starts at <see cref="Offset"/>; it is reported once its last byte is consumed.</summary>
    private void BeginTlsRecord(TlsRecordSummary record)
    {
        _headerBytesLeft = TlsRecordHeader.Size;
        _pendingRecord = record;
        _recordStart = Offset;
        _skipRemaining = TlsRecordHeader.Size + record.Header.Length;
        _mode = Mode.SkippingTlsRecord;
    }

    /// <summary>Whether a record of this type from this side is ciphertext.</summary>
    private bool Encrypting(TlsContentType type)
    {
        if (type == TlsContentType.ChangeCipherSpec)
        {
            // ChangeCipherSpec itself always travels in the clear (RFC 5246 7.1, RFC 8446 5).
            return false;
        }
        if (_direction == StreamDirection.ServerToClient)
        {
            return _tls.ServerEncrypting;
        }
        // TLS 1.3 (RFC 8446 5): after the ServerHello the client's records are protected,
        // except the compatibility ChangeCipherSpec (D.4) and a second ClientHello after HRR.
        if (_tls.IsTls13 && !_tls.AwaitingSecondClientHello && type != TlsContentType.ChangeCipherSpec)
        {
            _tls.ClientEncrypting = true;
        }
        if (_tls.AwaitingSecondClientHello && type == TlsContentType.Handshake)
        {
            _tls.AwaitingSecondClientHello = false;
        }
        return _tls.ClientEncrypting;
    }

    /// <summary>Decrypts the collected record and hands its plaintext on (RFC 8446 5.2, RFC 5246 6.2.3.3).</summary>
    private void DecryptRecord(StreamRange range)
    {
        var decryption = _tls.Decryption!;
        var decryptor = decryption.For(_direction);
        var header = _pendingRecord.Header;
        byte[] plain = ArrayPool<byte>.Shared.Rent(Math.Max(1, _cipherLength));
        try
        {
            if (decryptor is null || !decryptor.TryDecrypt(header, _cipher.AsSpan(0, _cipherLength), plain, out int length, out var inner))
            {
                decryption.Failed(_direction);
                _events.OnTlsRecord(_direction, range, _pendingRecord);
                return;
            }
            var content = plain.AsSpan(0, length);
            var summary = _pendingRecord with { Decrypted = true, InnerType = inner };
            switch (inner)
            {
                case TlsContentType.Handshake:
                    var messages = new List<TlsHandshakeMessage>();
                    var r = new TlsSpanReader(content);
                    bool finished = false;
                    while (r.TryReadU8(out byte type) && r.TryReadVector24(out var body))
                    {
                        messages.Add(TlsHandshakeMessage.Parse((TlsHandshakeType)type, body, _tls.IsTls13, _tls.Limits));
                        finished |= (TlsHandshakeType)type == TlsHandshakeType.Finished;
                    }
                    _events.OnTlsRecord(_direction, range, summary with { HandshakeMessages = messages });
                    if (finished)
                    {
                        decryption.FinishedSent(_direction);
                    }
                    break;
                case TlsContentType.Alert when content.Length >= 2:
                    _events.OnTlsRecord(_direction, range, summary with { AlertLevel = content[0], AlertDescription = content[1] });
                    break;
                case TlsContentType.ApplicationData:
                    _events.OnTlsRecord(_direction, range, summary);
                    FeedInner(content, range);
                    break;
                default:
                    _events.OnTlsRecord(_direction, range, summary);
                    break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain);
            _collectCipher = false;
        }
    }

    /// <summary>Decrypted application data goes through a parser of its own, in stream order.</summary>
    private void FeedInner(ReadOnlySpan<byte> plaintext, StreamRange outerRange)
    {
        _innerPipe ??= new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(
            pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
        _innerParser ??= new RdpStreamParser(_direction, _events, _tls, inner: true);
        var writer = _innerPipe.Writer;
        plaintext.CopyTo(writer.GetSpan(plaintext.Length));
        writer.Advance(plaintext.Length);
        _ = writer.FlushAsync();
        _innerParser._outerRange = outerRange;
        _innerParser.Drain(_innerPipe.Reader);
    }

    /// <summary>MS-CSSP 2.2.1: one DER TSRequest.</summary>
    private long FrameTsRequest(in ReadOnlySequence<byte> rest)
    {
        Span<byte> head = stackalloc byte[6];
        int have = (int)Math.Min(head.Length, rest.Length);
        rest.Slice(0, have).CopyTo(head);
        var status = CredSsp.TsRequest.TryGetFrameLength(head[..have], out int length);
        if (status == OperationStatus.NeedMoreData)
        {
            return 0;
        }
        if (status != OperationStatus.Done)
        {
            return Malformed("a DER element that is not a valid TSRequest header");
        }
        if (rest.Length < length)
        {
            return 0;
        }
        byte[] der = rest.Slice(0, length).ToArray();
        if (CredSsp.TsRequest.TryParse(der, out var request, out string? error, _tls.Limits.MaxAsn1Depth))
        {
            _sawCredSsp = true;
            _events.OnCredSsp(_direction, OuterOr(Offset, Offset + length), request);
        }
        else
        {
            _events.OnMalformed(_direction, Offset, $"TSRequest: {error}");
        }
        Offset += length;
        return length;
    }

    /// <summary>
    /// The Early User Authorization Result comes right after the last TSRequest and is one of two
    /// values (AUTHZ_SUCCESS 0, AUTHZ_ACCESS_DENIED 5); anything else there is RDP data.
    /// </summary>
    private static bool LooksLikeEarlyUserAuthorization(in ReadOnlySequence<byte> rest)
    {
        Span<byte> value = stackalloc byte[4];
        rest.Slice(0, 4).CopyTo(value);
        return BinaryPrimitives.ReadUInt32LittleEndian(value) is 0 or 5;
    }

    /// <summary>MS-RDPBCGR 2.2.10.2 Early User Authorization Result PDU: a bare little-endian u32.</summary>
    private long FrameEarlyUserAuthorization(in ReadOnlySequence<byte> rest)
    {
        Span<byte> value = stackalloc byte[4];
        rest.Slice(0, 4).CopyTo(value);
        uint result = BinaryPrimitives.ReadUInt32LittleEndian(value);
        _events.OnEarlyUserAuthorization(_direction, OuterOr(Offset, Offset + 4), result);
        _sawCredSsp = false;
        Offset += 4;
        return 4;
    }

    private StreamRange OuterOr(long start, long end) => _outerRange ?? new StreamRange(start, end);

    private long FrameFastPath(in ReadOnlySequence<byte> rest)
    {
        // MS-RDPBCGR 2.2.9.1.2 fpOutputHeader, then length1 and, when its top bit is set, length2.
        if (rest.Length < 3)
        {
            return 0;
        }
        Span<byte> h = stackalloc byte[3];
        rest.Slice(0, 3).CopyTo(h);
        int length = (h[1] & 0x80) != 0 ? ((h[1] & 0x7F) << 8) | h[2] : h[1];
        if (length < 2)
        {
            return Malformed($"fast-path PDU length {length} is shorter than its header");
        }
        _recordStart = Offset;
        _skipRemaining = length;
        _mode = Mode.SkippingFastPath;
        return Skip(rest);
    }

    private long Malformed(string reason)
    {
        _events.OnMalformed(_direction, Offset, reason);
        _mode = Mode.Lost;
        return 0;
    }
}
