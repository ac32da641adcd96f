using RdpWire.Analyzer.Report;
using RdpWire.RdpParser.Gcc;
using RdpWire.RdpParser.Mcs;

namespace RdpWire.Analyzer.Connections;

/// <summary>The Basic Settings Exchange (MS-RDPBCGR 1.3.1.1 phase 2) when it is in the clear.</summary>
public static partial class VerdictEngine
{
    /// <summary>Below this a Standard RDP Security server key is breakable (the classic proprietary key is 512 bits).</summary>
    private const int MinimumServerKeyBits = 2048;

    private static ClientInfoReport? ClientInfoSummary(ConnectionState s)
    {
        if (s.ClientInfo is not { } ci)
        {
            return null;
        }
        var p = ci.Packet;
        return new ClientInfoReport
        {
            Frame = ci.At.Frame,
            UserName = p.UserName,
            Domain = p.Domain,
            PasswordSent = p.PasswordLength > 0,
            AutoLogon = (p.Flags & RdpWire.RdpParser.Rdp.InfoPacketFlags.AutoLogon) != 0,
            Flags = [.. p.FlagNames],
            CodePage = (int)p.CodePage,
            AlternateShell = p.AlternateShell,
            WorkingDir = p.WorkingDir,
            ClientAddressFamily = p.ClientAddressFamily,
            ClientAddress = p.ClientAddress,
            ClientDir = p.ClientDir,
            PerformanceFlags = p.PerformanceFlags is uint f ? [.. RdpWire.RdpParser.Rdp.ClientInfoPacket.PerformanceFlagNames(f)] : [],
            AutoReconnectCookie = p.AutoReconnectCookie,
            Problem = p.Problem,
        };
    }

    private static McsReport? McsSummary(ConnectionState s)
    {
        var ci = s.McsConnectInitial?.ClientData;
        var cr = s.McsConnectResponsePdu;
        var sd = cr?.ServerData;
        if (ci is null && sd is null)
        {
            return null;
        }
        var cert = sd?.Certificate;
        return new McsReport
        {
            ClientName = ci?.ClientName,
            ClientBuild = ci?.ClientBuild,
            ClientBuildName = ci?.ClientBuild is uint b ? GccNames.ClientBuildName(b) : null,
            KeyboardLayout = ci?.KeyboardLayout is uint k ? GccNames.KeyboardLayout(k) : null,
            KeyboardLayoutId = ci?.KeyboardLayout is uint k2 ? $"0x{k2:X8}" : null,
            DesktopWidth = ci?.DesktopWidth,
            DesktopHeight = ci?.DesktopHeight,
            ColorDepth = ci?.ColorDepth,
            Channels = ci?.Channels.Select(c => c.Name).ToList() ?? [],
            ClientEncryptionMethods = ci?.EncryptionMethods is { } m ? GccNames.Methods(m).ToList() : [],
            ClientVersion = ci?.Version is uint cv ? $"{cv >> 16}.{cv & 0xFFFF}" : null,
            ClientSupportsErrorInfo = ci?.EarlyCapabilityFlags is ushort f ? (f & ClientDataBlocks.SupportErrInfoPdu) != 0 : null,
            ServerEncryptionMethod = sd?.EncryptionMethod is { } sm ? string.Join("|", GccNames.Methods(sm)) : null,
            ServerEncryptionLevel = sd?.EncryptionLevel is { } lvl ? GccNames.Level(lvl) : null,
            ServerVersion = sd?.Version is uint sv ? $"{sv >> 16}.{sv & 0xFFFF}" : null,
            ServerCertificateType = cert?.Type,
            ServerCertificateCount = cert?.Count,
            ServerCertificateKeyBits = cert?.RsaKeyBits,
            ServerCertificatePermanent = cert is null ? null : !cert.Temporary,
            ConnectResult = cr?.Result is int r ? McsConnectPdu.ResultName(r) : null,
            ConnectInitialFrame = s.FirstX224Data[C2S]?.Frame,
            ConnectResponseFrame = s.McsConnectResponse?.Frame,
        };
    }

    /// <summary>Standard RDP Security properties a network engineer should know of (warnings).</summary>
    private static void AddMcsSideFindings(Context ctx, Finding? verdict)
    {
        var s = ctx.S;
        var sd = s.McsConnectResponsePdu?.ServerData;
        if (sd is null || s.McsConnectResponse is not { } at)
        {
            return;
        }
        if (sd.Certificate is { RsaKeyBits: int bits } && bits < MinimumServerKeyBits)
        {
            ctx.Report.Findings.Add(Make(ctx, "rdp.weak-server-key", at,
                $"The server's Standard RDP Security key is only {bits} bits",
                $"The MCS Connect Response (frame {F(at)}) carries a {sd.Certificate.Type} server certificate with a {bits}-bit RSA key; the client encrypts its random (and so every session key) with it. Keys this short are factorable.",
                Frames(at)));
        }
        // Under TLS or CredSSP the server reports level/method NONE: TLS does the encrypting.
        bool standardSecurity = s.Confirm?.Pdu.SelectedProtocol is null or RdpWire.RdpParser.X224.SecurityProtocols.Rdp;
        if (standardSecurity && (sd.EncryptionLevel is EncryptionLevel.None or EncryptionLevel.Low
            || (sd.EncryptionMethod is { } m && (m & (EncryptionMethods.Bits40 | EncryptionMethods.Bits56)) != 0 && (m & EncryptionMethods.Bits128) == 0)))
        {
            ctx.Report.Findings.Add(Make(ctx, "rdp.weak-encryption", at,
                $"Standard RDP Security at level {GccNames.Level(sd.EncryptionLevel ?? EncryptionLevel.None)} with {string.Join("|", GccNames.Methods(sd.EncryptionMethod ?? EncryptionMethods.None))} encryption",
                $"The MCS Connect Response (frame {F(at)}) selects encryption level {GccNames.Level(sd.EncryptionLevel ?? EncryptionLevel.None)} and method {string.Join("|", GccNames.Methods(sd.EncryptionMethod ?? EncryptionMethods.None))}: traffic from the server (level LOW) or everything (NONE, 40/56-bit) is weakly protected or not at all.",
                Frames(at)));
        }
        foreach (var problem in sd.Problems.Concat(s.McsConnectInitial?.ClientData?.Problems ?? []))
        {
            ctx.Report.Findings.Add(Make(ctx, "rdp.malformed-gcc", at, "A GCC data block breaks MS-RDPBCGR 2.2.1.3/2.2.1.4", problem + ".", Frames(at), severity: "warning"));
        }
    }
}
