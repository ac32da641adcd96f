using System.Diagnostics;
using System.Text;
using Xunit;

namespace RdpWire.Tests.Support;

/// <summary>
/// A live-capture test needs root (CI runs as root): network namespaces, veth pairs and raw
/// sockets. Without root it is reported as skipped, never as passed.
/// </summary>
public sealed class LiveCaptureFactAttribute : FactAttribute
{
    public LiveCaptureFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            Skip = "live capture tests need Linux and root (network namespaces, raw sockets)";
        }
    }
}

/// <summary>
/// Two network namespaces joined by a veth pair (client 10.203.N.1, server 10.203.N.2), for
/// driving real traffic past `rdpwire capture`. Addresses and names are ours alone; the
/// namespaces are deleted on dispose.
/// </summary>
public sealed class LiveLab : IDisposable
{
    private static int _next = Environment.ProcessId % 200;

    public LiveLab()
    {
        int n = Interlocked.Increment(ref _next) % 250;
        ClientNs = $"rwlc{Environment.ProcessId % 10000}-{n}";
        ServerNs = $"rwls{Environment.ProcessId % 10000}-{n}";
        ClientIf = $"rwvc{n}";
        ServerIf = $"rwvs{n}";
        ClientIp = $"10.203.{n}.1";
        ServerIp = $"10.203.{n}.2";
        Ip($"netns add {ClientNs}");
        Ip($"netns add {ServerNs}");
        Ip($"link add {ClientIf} netns {ClientNs} type veth peer name {ServerIf} netns {ServerNs}");
        Ip($"-n {ClientNs} addr add {ClientIp}/24 dev {ClientIf}");
        Ip($"-n {ServerNs} addr add {ServerIp}/24 dev {ServerIf}");
        foreach (var (ns, dev) in new[] { (ClientNs, ClientIf), (ServerNs, ServerIf), (ClientNs, "lo"), (ServerNs, "lo") })
        {
            Ip($"-n {ns} link set {dev} up");
        }
    }

    public string ClientNs { get; }
    public string ServerNs { get; }
    public string ClientIf { get; }
    public string ServerIf { get; }
    public string ClientIp { get; }
    public string ServerIp { get; }

    public static string ReplayPeer => Path.Combine(RepoPaths.RepoRoot, "tests", "lab", "replay_peer.py");

    /// <summary>The rdpwire CLI built next to the tests, run by the same dotnet host.</summary>
    public static string[] Rdpwire => [Environment.ProcessPath ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "rdpwire.dll")];

    /// <summary>Starts a process inside a namespace (ip netns exec replaces itself with it: the PID is the command's).</summary>
    public static BackgroundProcess StartIn(string ns, params string[] command) =>
        new(["ip", "netns", "exec", ns, .. command]);

    public static (int Exit, string Stdout, string Stderr) Run(params string[] command)
    {
        using var p = new BackgroundProcess(command);
        return (p.WaitForExit(TimeSpan.FromSeconds(60)), p.Stdout, p.Stderr);
    }

    private static void Ip(string args)
    {
        var (exit, _, stderr) = Run(["ip", .. args.Split(' ')]);
        Assert.True(exit == 0, $"ip {args}: {stderr}");
    }

    public void Dispose()
    {
        Run("ip", "netns", "del", ClientNs);
        Run("ip", "netns", "del", ServerNs);
    }
}

/// <summary>A child process whose output is collected as it comes; SIGTERM to stop it.</summary>
public sealed class BackgroundProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public BackgroundProcess(string[] command)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in command[1..])
        {
            info.ArgumentList.Add(arg);
        }
        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits until <paramref name="condition"/> holds for this process's output, or the timeout.</summary>
    public bool WaitUntil(Func<BackgroundProcess, bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (condition(this))
            {
                return true;
            }
            Thread.Sleep(50);
        }
        return condition(this);
    }

    /// <summary>Sends a signal by name ("TERM", "INT") with kill(1).</summary>
    public void Signal(string signal)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            return -1;
        }
        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}

/// <summary>A fact that needs an external program (tshark, chromium); skipped, not passed, when it is not installed.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string program)
    {
        if (Find(program) is null)
        {
            Skip = $"{program} is not installed";
        }
    }

    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);
}
