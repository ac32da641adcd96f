using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>The flow key's hash (NH under a per-process key): equal keys agree, crafted families of keys do not collide.</summary>
public class FlowKeyTests
{
    private static Endpoint V4(uint address, ushort port) =>
        new(NetAddress.FromIPv4([(byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address]), port);

    [Fact]
    public void Both_directions_give_the_same_key_and_hash()
    {
        var a = V4(0x0A4D0002, 54080);
        var b = V4(0x0A4D0001, 3389);
        var ab = FlowKey.Of(a, b, 6);
        var ba = FlowKey.Of(b, a, 6);
        Assert.Equal(ab, ba);
        Assert.Equal(ab.GetHashCode(), ba.GetHashCode());
        Assert.NotEqual(ab, FlowKey.Of(a, b, 17));
    }

    [Fact]
    public void Client_ports_of_one_host_pair_spread_over_the_hash_space()
    {
        // A gateway capture: one server, one client, every ephemeral port. The dictionary buckets
        // by the hash modulo a prime; a weak hash would put these in a few buckets.
        var hashes = EveryClientPortToOneServer().Select(k => k.GetHashCode()).ToHashSet();
        Assert.True(hashes.Count >= 64512 - 8, $"{64512 - hashes.Count} of 64512 keys collided");
    }

    [Fact]
    public void IPv6_addresses_whose_halves_fold_alike_do_not_collide()
    {
        // HashCode.Add(ulong) folds a word's halves together; these 4,096 addresses share that fold
        // (upper half == lower half), which made them all collide before.
        var server = new Endpoint(new NetAddress(0x20010DB800000000, 1, true), 3389);
        var hashes = new HashSet<int>();
        for (uint i = 0; i < 4096; i++)
        {
            ulong word = (ulong)i << 32 | i;
            hashes.Add(FlowKey.Of(new Endpoint(new NetAddress(0x20010DB8_00000001, word, true), 50000), server, 6).GetHashCode());
        }
        Assert.True(hashes.Count >= 4096 - 2, $"{4096 - hashes.Count} of 4096 keys collided");
    }

    [Fact]
    public void Fingerprints_of_distinct_flows_differ()
    {
        Assert.Equal(64512, EveryClientPortToOneServer().Select(k => k.Fingerprint()).Distinct().Count());
    }

    /// <summary>A gateway capture's keys: one client host, every ephemeral port, one RDP server.</summary>
    private static IEnumerable<FlowKey> EveryClientPortToOneServer()
    {
        var server = V4(0x0A4D0001, 3389);
        for (int port = 1024; port < 65536; port++)
        {
            yield return FlowKey.Of(V4(0x0A4D0002, (ushort)port), server, 6);
        }
    }
}
