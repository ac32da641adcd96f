using System.Runtime.CompilerServices;

namespace RdpWire.Analyzer.Connections;

/// <summary>
/// One value per direction of a connection, indexed by <c>(int)TcpDirection</c> (client to server 0,
/// server to client 1), held inside the object that owns it. Each of these was a two-element array
/// of its own: twenty arrays per tracked connection, about 1.3 KB, for connections that stay tracked
/// by the hundred (unanswered SYNs until the idle timeout).
/// </summary>
[InlineArray(2)]
public struct PerDirection<T>
{
    private T _clientToServer;
}
