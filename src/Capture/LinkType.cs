namespace RdpWire.Capture;

/// <summary>
/// Link-layer header types (tcpdump.org LINKTYPE_* values, also used in pcapng IDBs).
/// Only the ones the decoders understand are named; others pass through as their number.
/// </summary>
public enum LinkType : uint
{
    /// <summary>LINKTYPE_NULL: BSD loopback, 4-byte host-order address family.</summary>
    Null = 0,
    /// <summary>LINKTYPE_ETHERNET: IEEE 802.3, with 802.1Q / QinQ tags.</summary>
    Ethernet = 1,
    /// <summary>LINKTYPE_RAW: raw IPv4 or IPv6, version nibble decides.</summary>
    Raw = 101,
    /// <summary>LINKTYPE_LOOP: OpenBSD loopback, 4-byte network-order address family.</summary>
    Loop = 108,
    /// <summary>LINKTYPE_LINUX_SLL: Linux cooked capture v1 (tcpdump -i any).</summary>
    LinuxSll = 113,
    /// <summary>LINKTYPE_IPV4: raw IPv4.</summary>
    Ipv4 = 228,
    /// <summary>LINKTYPE_IPV6: raw IPv6.</summary>
    Ipv6 = 229,
    /// <summary>LINKTYPE_LINUX_SLL2: Linux cooked capture v2.</summary>
    LinuxSll2 = 276,
}

public static class LinkTypeNames
{
    /// <summary>The name tcpdump and the contract use ("ETHERNET", "LINUX_SLL", ...), or the number.</summary>
    public static string Name(LinkType type) => type switch
    {
        LinkType.Null => "NULL",
        LinkType.Ethernet => "ETHERNET",
        LinkType.Raw => "RAW",
        LinkType.Loop => "LOOP",
        LinkType.LinuxSll => "LINUX_SLL",
        LinkType.Ipv4 => "IPV4",
        LinkType.Ipv6 => "IPV6",
        LinkType.LinuxSll2 => "LINUX_SLL2",
        _ => "LINKTYPE_" + ((uint)type).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
