using System.Formats.Asn1;
using RdpWire.RdpParser.Gcc;

namespace RdpWire.RdpParser.Mcs;

/// <summary>
/// T.125 7 part 2 Connect-Initial ([APPLICATION 101], BER) and Connect-Response
/// ([APPLICATION 102]), as RDP sends them in the Basic Settings Exchange (MS-RDPBCGR 2.2.1.3,
/// 2.2.1.4). Only the fields a failure analysis needs are kept; the GCC Conference Create
/// Request/Response in userData is decoded into its data blocks.
/// </summary>
public sealed class McsConnectPdu
{
    private static readonly Asn1Tag ConnectInitialTag = new(TagClass.Application, 101, isConstructed: true);
    private static readonly Asn1Tag ConnectResponseTag = new(TagClass.Application, 102, isConstructed: true);

    /// <summary>True for Connect-Initial (client), false for Connect-Response (server).</summary>
    public bool IsInitial { get; private init; }

    /// <summary>Connect-Response result (T.125 Result: 0 rt-successful), null for Connect-Initial.</summary>
    public int? Result { get; private init; }

    public ClientDataBlocks? ClientData { get; private init; }
    public ServerDataBlocks? ServerData { get; private init; }
    public string? Error { get; private init; }

    /// <summary>T.125 7 part 3 Result names.</summary>
    public static string ResultName(int result) => result switch
    {
        0 => "rt-successful",
        1 => "rt-domain-merging",
        2 => "rt-domain-not-hierarchical",
        3 => "rt-no-such-channel",
        4 => "rt-no-such-domain",
        5 => "rt-no-such-user",
        6 => "rt-not-admitted",
        7 => "rt-other-user-id",
        8 => "rt-parameters-unacceptable",
        9 => "rt-token-not-available",
        10 => "rt-token-not-possessed",
        11 => "rt-too-many-channels",
        12 => "rt-too-many-tokens",
        13 => "rt-too-many-users",
        14 => "rt-unspecified-failure",
        15 => "rt-user-rejected",
        _ => $"result {result}",
    };

    /// <summary>Parses the MCS PDU at the start of an X.224 Data TPDU's user data. Never throws.</summary>
    public static McsConnectPdu? TryParse(ReadOnlySpan<byte> mcs)
    {
        if (mcs.Length < 2 || mcs[0] != 0x7F || (mcs[1] != 0x65 && mcs[1] != 0x66))
        {
            return null;
        }
        bool initial = mcs[1] == 0x65;
        try
        {
            // BER (T.125 uses the basic encoding rules), read from a copy the reader may keep.
            var reader = new AsnReader(mcs.ToArray(), AsnEncodingRules.BER);
            var pdu = reader.ReadSequence(initial ? ConnectInitialTag : ConnectResponseTag);
            if (initial)
            {
                pdu.ReadOctetString(); // callingDomainSelector
                pdu.ReadOctetString(); // calledDomainSelector
                pdu.ReadBoolean(); // upwardFlag
                pdu.ReadSequence(); // targetParameters
                pdu.ReadSequence(); // minimumParameters
                pdu.ReadSequence(); // maximumParameters
                byte[] userData = pdu.ReadOctetString();
                var blocks = GccConferenceCreate.FindClientBlocks(userData, out string? gccError);
                return new McsConnectPdu
                {
                    IsInitial = true,
                    ClientData = blocks is null ? null : ClientDataBlocks.Parse(blocks.Value.Span),
                    Error = gccError,
                };
            }
            var resultBytes = pdu.ReadEnumeratedBytes().Span;
            int result = 0;
            foreach (byte b in resultBytes[..Math.Min(4, resultBytes.Length)])
            {
                result = (result << 8) | b;
            }
            pdu.ReadInteger(); // calledConnectId
            pdu.ReadSequence(); // domainParameters
            byte[] serverUserData = pdu.ReadOctetString();
            var serverBlocks = GccConferenceCreate.FindServerBlocks(serverUserData, out string? serverError);
            return new McsConnectPdu
            {
                IsInitial = false,
                Result = result,
                ServerData = serverBlocks is null ? null : ServerDataBlocks.Parse(serverBlocks.Value.Span),
                Error = serverError,
            };
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException or InvalidOperationException or OverflowException)
        {
            return new McsConnectPdu { IsInitial = initial, Error = $"MCS Connect-{(initial ? "Initial" : "Response")} is not valid BER: {e.Message}" };
        }
    }
}

/// <summary>
/// T.124 GCC Conference Create Request/Response (ALIGNED PER) as RDP uses it (MS-RDPBCGR
/// 2.2.1.3.1, 2.2.1.4.1): the user data carries an H.221 non-standard key, "Duca" from the
/// client and "McDn" from the server, followed by a PER length and the concatenated data blocks.
/// </summary>
public static class GccConferenceCreate
{
    private static ReadOnlySpan<byte> ClientKey => "Duca"u8;
    private static ReadOnlySpan<byte> ServerKey => "McDn"u8;

    public static ReadOnlyMemory<byte>? FindClientBlocks(byte[] userData, out string? error) => Find(userData, ClientKey, out error);

    public static ReadOnlyMemory<byte>? FindServerBlocks(byte[] userData, out string? error) => Find(userData, ServerKey, out error);

    private static ReadOnlyMemory<byte>? Find(byte[] userData, ReadOnlySpan<byte> key, out string? error)
    {
        int at = userData.AsSpan().IndexOf(key);
        if (at < 0)
        {
            error = $"GCC user data carries no \"{System.Text.Encoding.ASCII.GetString(key)}\" key";
            return null;
        }
        int p = at + key.Length;
        if (p >= userData.Length)
        {
            error = "GCC user data ends after its H.221 key";
            return null;
        }
        // X.691 10.9 length determinant: one octet below 128, else two with the top bit set.
        int length;
        if ((userData[p] & 0x80) == 0)
        {
            length = userData[p];
            p += 1;
        }
        else
        {
            if (p + 1 >= userData.Length)
            {
                error = "GCC user data length is cut short";
                return null;
            }
            length = ((userData[p] & 0x3F) << 8) | userData[p + 1];
            p += 2;
        }
        error = null;
        int available = Math.Min(length, userData.Length - p);
        if (available < length)
        {
            error = $"GCC user data claims {length} bytes of data blocks, {available} present";
        }
        return new ReadOnlyMemory<byte>(userData, p, available);
    }
}
