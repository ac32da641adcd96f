using System.Buffers.Binary;
using System.Text;

namespace RdpWire.RdpParser.Rdp;

/// <summary>MS-RDPBCGR 2.2.1.11.1.1 TS_INFO_PACKET flags.</summary>
[Flags]
public enum InfoPacketFlags : uint
{
    None = 0,
    Mouse = 0x00000001,
    DisableCtrlAltDel = 0x00000002,
    AutoLogon = 0x00000008,
    Unicode = 0x00000010,
    MaximizeShell = 0x00000020,
    LogonNotify = 0x00000040,
    Compression = 0x00000080,
    EnableWindowsKey = 0x00000100,
    RemoteConsoleAudio = 0x00002000,
    ForceEncryptedCsPdu = 0x00004000,
    Rail = 0x00008000,
    LogonErrors = 0x00010000,
    MouseHasWheel = 0x00020000,
    PasswordIsScPin = 0x00040000,
    NoAudioPlayback = 0x00080000,
    UsingSavedCreds = 0x00100000,
    AudioCapture = 0x00200000,
    VideoDisable = 0x00400000,
    HiDefRailSupported = 0x02000000,
}

/// <summary>MS-RDPBCGR 2.2.1.11.1.1.1 TS_EXTENDED_INFO_PACKET performanceFlags.</summary>
[Flags]
public enum PerformanceFlags : uint
{
    None = 0,
    DisableWallpaper = 0x00000001,
    DisableFullWindowDrag = 0x00000002,
    DisableMenuAnimations = 0x00000004,
    DisableTheming = 0x00000008,
    DisableCursorShadow = 0x00000020,
    DisableCursorSettings = 0x00000040,
    EnableFontSmoothing = 0x00000080,
    EnableDesktopComposition = 0x00000100,
}

/// <summary>
/// MS-RDPBCGR 2.2.1.11.1.1 Info Packet (TS_INFO_PACKET) with its 2.2.1.11.1.1.1 Extended Info
/// Packet: the logon the client asks for. Strings follow their cb* lengths (which exclude the
/// null terminator), UTF-16LE under INFO_UNICODE. The password is never kept: only whether one
/// was sent and how long it was.
/// </summary>
public sealed class ClientInfoPacket
{
    private const ushort AfInet = 0x0002;
    private const ushort AfInet6 = 0x0017;
    private const int TimeZoneInformationLength = 172;

    public uint CodePage { get; private init; }
    public InfoPacketFlags Flags { get; private init; }
    public string Domain { get; private init; } = "";
    public string UserName { get; private init; } = "";
    /// <summary>cbPassword: bytes of password (or smart-card PIN) data sent; the text is not kept.</summary>
    public int PasswordLength { get; private init; }
    public string AlternateShell { get; private init; } = "";
    public string WorkingDir { get; private init; } = "";
    /// <summary>From the extended part (absent from RDP 4.0 clients).</summary>
    public string? ClientAddressFamily { get; private set; }
    public string? ClientAddress { get; private set; }
    public string? ClientDir { get; private set; }
    public uint? PerformanceFlags { get; private set; }
    public bool AutoReconnectCookie { get; private set; }
    /// <summary>Where the packet stopped making sense, when it did.</summary>
    public string? Problem { get; private set; }

    /// <summary>Bits 9–12 of flags: the bulk compression type the client supports (2.2.1.11.1.1 CompressionTypeMask).</summary>
    public int CompressionType => (int)(((uint)Flags >> 9) & 0x0F);

    public IReadOnlyList<string> FlagNames => SpecFlags.Names(Flags & ~(InfoPacketFlags)0x1E00, FlagTable, 8);

    public static IReadOnlyList<string> PerformanceFlagNames(uint flags) =>
        SpecFlags.Names((PerformanceFlags)(flags & ~0x80000010u), PerformanceTable, 8);

    /// <summary>Reads a TS_INFO_PACKET (the bytes after the Basic Security Header); false when even the fixed part is missing.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out ClientInfoPacket info)
    {
        info = new ClientInfoPacket();
        if (data.Length < 18)
        {
            return false;
        }
        var flags = (InfoPacketFlags)BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
        bool unicode = (flags & InfoPacketFlags.Unicode) != 0;
        int terminator = unicode ? 2 : 1;
        int cbDomain = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
        int cbUserName = BinaryPrimitives.ReadUInt16LittleEndian(data[10..]);
        int cbPassword = BinaryPrimitives.ReadUInt16LittleEndian(data[12..]);
        int cbAlternateShell = BinaryPrimitives.ReadUInt16LittleEndian(data[14..]);
        int cbWorkingDir = BinaryPrimitives.ReadUInt16LittleEndian(data[16..]);
        int at = 18;
        string? problem = null;
        string domain = NextString(data, ref at, cbDomain, unicode, ref problem);
        string user = NextString(data, ref at, cbUserName, unicode, ref problem);
        if (problem is null && at + cbPassword + terminator <= data.Length)
        {
            at += cbPassword + terminator;
        }
        else
        {
            problem ??= "the password field runs past the packet";
        }
        string shell = NextString(data, ref at, cbAlternateShell, unicode, ref problem);
        string dir = NextString(data, ref at, cbWorkingDir, unicode, ref problem);
        info = new ClientInfoPacket
        {
            CodePage = BinaryPrimitives.ReadUInt32LittleEndian(data),
            Flags = flags,
            Domain = domain,
            UserName = user,
            PasswordLength = cbPassword,
            AlternateShell = shell,
            WorkingDir = dir,
            Problem = problem,
        };
        if (problem is null && at < data.Length)
        {
            info.ReadExtended(data[at..]);
        }
        return true;
    }

    /// <summary>2.2.1.11.1.1.1: here cbClientAddress and cbClientDir include the terminator and the strings are always Unicode.</summary>
    private void ReadExtended(ReadOnlySpan<byte> x)
    {
        if (x.Length < 4)
        {
            return;
        }
        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(x);
        ClientAddressFamily = family switch { AfInet => "AF_INET", AfInet6 => "AF_INET6", _ => $"0x{family:X4}" };
        int cbAddress = BinaryPrimitives.ReadUInt16LittleEndian(x[2..]);
        int at = 4;
        if (at + cbAddress + 2 > x.Length)
        {
            Problem = "the extended info's client address runs past the packet";
            return;
        }
        ClientAddress = Decode(x.Slice(at, cbAddress), unicode: true);
        at += cbAddress;
        int cbDir = BinaryPrimitives.ReadUInt16LittleEndian(x[at..]);
        at += 2;
        if (at + cbDir > x.Length)
        {
            Problem = "the extended info's client directory runs past the packet";
            return;
        }
        ClientDir = Decode(x.Slice(at, cbDir), unicode: true);
        at += cbDir;
        // clientTimeZone (172), clientSessionId (4), performanceFlags (4), cbAutoReconnectCookie (2): all optional.
        if (at + TimeZoneInformationLength + 8 <= x.Length)
        {
            at += TimeZoneInformationLength + 4;
            PerformanceFlags = BinaryPrimitives.ReadUInt32LittleEndian(x[at..]);
            at += 4;
            if (at + 2 <= x.Length)
            {
                AutoReconnectCookie = BinaryPrimitives.ReadUInt16LittleEndian(x[at..]) > 0;
            }
        }
    }

    /// <summary>One cb-counted string and its null terminator; empty once the packet stopped making sense.</summary>
    private static string NextString(ReadOnlySpan<byte> data, ref int at, int cb, bool unicode, ref string? problem)
    {
        int terminator = unicode ? 2 : 1;
        if (problem is not null)
        {
            return "";
        }
        if (at + cb + terminator > data.Length)
        {
            problem = $"a string of {cb} bytes at offset {at} runs past the {data.Length}-byte packet";
            return "";
        }
        string text = Decode(data.Slice(at, cb), unicode);
        at += cb + terminator;
        return text;
    }

    private static string Decode(ReadOnlySpan<byte> bytes, bool unicode)
    {
        string text = unicode ? Encoding.Unicode.GetString(bytes[..(bytes.Length & ~1)]) : Encoding.Latin1.GetString(bytes);
        int nul = text.IndexOf('\0');
        return nul >= 0 ? text[..nul] : text;
    }

    private static readonly (InfoPacketFlags, string)[] FlagTable =
    [
        (InfoPacketFlags.Mouse, "INFO_MOUSE"),
        (InfoPacketFlags.DisableCtrlAltDel, "INFO_DISABLECTRLALTDEL"),
        (InfoPacketFlags.AutoLogon, "INFO_AUTOLOGON"),
        (InfoPacketFlags.Unicode, "INFO_UNICODE"),
        (InfoPacketFlags.MaximizeShell, "INFO_MAXIMIZESHELL"),
        (InfoPacketFlags.LogonNotify, "INFO_LOGONNOTIFY"),
        (InfoPacketFlags.Compression, "INFO_COMPRESSION"),
        (InfoPacketFlags.EnableWindowsKey, "INFO_ENABLEWINDOWSKEY"),
        (InfoPacketFlags.RemoteConsoleAudio, "INFO_REMOTECONSOLEAUDIO"),
        (InfoPacketFlags.ForceEncryptedCsPdu, "INFO_FORCE_ENCRYPTED_CS_PDU"),
        (InfoPacketFlags.Rail, "INFO_RAIL"),
        (InfoPacketFlags.LogonErrors, "INFO_LOGONERRORS"),
        (InfoPacketFlags.MouseHasWheel, "INFO_MOUSE_HAS_WHEEL"),
        (InfoPacketFlags.PasswordIsScPin, "INFO_PASSWORD_IS_SC_PIN"),
        (InfoPacketFlags.NoAudioPlayback, "INFO_NOAUDIOPLAYBACK"),
        (InfoPacketFlags.UsingSavedCreds, "INFO_USING_SAVED_CREDS"),
        (InfoPacketFlags.AudioCapture, "INFO_AUDIOCAPTURE"),
        (InfoPacketFlags.VideoDisable, "INFO_VIDEO_DISABLE"),
        (InfoPacketFlags.HiDefRailSupported, "INFO_HIDEF_RAIL_SUPPORTED"),
    ];

    private static readonly (PerformanceFlags, string)[] PerformanceTable =
    [
        (Rdp.PerformanceFlags.DisableWallpaper, "PERF_DISABLE_WALLPAPER"),
        (Rdp.PerformanceFlags.DisableFullWindowDrag, "PERF_DISABLE_FULLWINDOWDRAG"),
        (Rdp.PerformanceFlags.DisableMenuAnimations, "PERF_DISABLE_MENUANIMATIONS"),
        (Rdp.PerformanceFlags.DisableTheming, "PERF_DISABLE_THEMING"),
        (Rdp.PerformanceFlags.DisableCursorShadow, "PERF_DISABLE_CURSOR_SHADOW"),
        (Rdp.PerformanceFlags.DisableCursorSettings, "PERF_DISABLE_CURSORSETTINGS"),
        (Rdp.PerformanceFlags.EnableFontSmoothing, "PERF_ENABLE_FONT_SMOOTHING"),
        (Rdp.PerformanceFlags.EnableDesktopComposition, "PERF_ENABLE_DESKTOP_COMPOSITION"),
    ];
}
