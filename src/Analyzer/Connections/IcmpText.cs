namespace RdpWire.Analyzer.Connections;

/// <summary>Names of ICMP (RFC 792, RFC 1812 5.2.7.1) and ICMPv6 (RFC 4443) error types and codes.</summary>
public static class IcmpText
{
    public static string Describe(byte type, byte code, bool v6) => v6 ? DescribeV6(type, code) : DescribeV4(type, code);

    /// <summary>True for the errors that say a destination cannot be reached (not "packet too big").</summary>
    public static bool IsUnreachable(byte type, byte code, bool v6) =>
        v6 ? type == 1 : type == 3 && code != 4;

    private static string DescribeV4(byte type, byte code) => type switch
    {
        3 => "ICMP destination unreachable: " + code switch
        {
            0 => "net unreachable",
            1 => "host unreachable",
            2 => "protocol unreachable",
            3 => "port unreachable",
            4 => "fragmentation needed and DF set",
            5 => "source route failed",
            6 => "destination network unknown",
            7 => "destination host unknown",
            9 => "network administratively prohibited",
            10 => "host administratively prohibited",
            11 => "network unreachable for TOS",
            12 => "host unreachable for TOS",
            13 => "communication administratively prohibited",
            14 => "host precedence violation",
            15 => "precedence cutoff in effect",
            _ => $"code {code}",
        },
        11 => code == 0 ? "ICMP time exceeded in transit (TTL)" : "ICMP time exceeded: fragment reassembly",
        12 => "ICMP parameter problem",
        4 => "ICMP source quench",
        5 => "ICMP redirect",
        _ => $"ICMP type {type} code {code}",
    };

    private static string DescribeV6(byte type, byte code) => type switch
    {
        1 => "ICMPv6 destination unreachable: " + code switch
        {
            0 => "no route to destination",
            1 => "communication administratively prohibited",
            2 => "beyond scope of source address",
            3 => "address unreachable",
            4 => "port unreachable",
            5 => "source address failed ingress/egress policy",
            6 => "reject route to destination",
            _ => $"code {code}",
        },
        2 => "ICMPv6 packet too big",
        3 => "ICMPv6 time exceeded",
        4 => "ICMPv6 parameter problem",
        _ => $"ICMPv6 type {type} code {code}",
    };
}
