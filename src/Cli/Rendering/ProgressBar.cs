using System.Globalization;

namespace RdpWire.Cli.Rendering;

/// <summary>
/// A progress line on stderr for captures that take more than a second to read, only when
/// stderr is a terminal: how far into the file the reader is. It erases itself when done.
/// </summary>
public sealed class ProgressBar : IDisposable
{
    private const int Width = 30;
    private readonly Func<long> _position;
    private readonly long _length;
    private readonly TextWriter _stderr;
    private readonly Timer _timer;
    private readonly object _gate = new();
    private bool _shown;
    private bool _done;

    private ProgressBar(Func<long> position, long length, TextWriter stderr)
    {
        _position = position;
        _length = length;
        _stderr = stderr;
        _timer = new Timer(_ => Draw(), null, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(250));
    }

    /// <summary>A bar for <paramref name="stream"/>, or null when stderr is not a terminal or the length is unknown.</summary>
    public static ProgressBar? Start(Stream stream, TextWriter stderr, bool stderrIsTerminal) =>
        stream.CanSeek ? Start(() => stream.Position, stream.Length, stderr, stderrIsTerminal) : null;

    /// <summary>A bar for a reading of <paramref name="length"/> bytes whose progress <paramref name="position"/> tells.</summary>
    public static ProgressBar? Start(Func<long> position, long length, TextWriter stderr, bool stderrIsTerminal) =>
        stderrIsTerminal && length > 0 ? new ProgressBar(position, length, stderr) : null;

    private void Draw()
    {
        lock (_gate)
        {
            if (_done)
            {
                return;
            }
            long at = Math.Min(_position(), _length);
            int filled = (int)(Width * at / _length);
            _stderr.Write(string.Create(CultureInfo.InvariantCulture,
                $"\r  reading [{new string('#', filled)}{new string('.', Width - filled)}] {100 * at / _length,3}%  {at >> 20}/{_length >> 20} MiB"));
            _stderr.Flush();
            _shown = true;
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_gate)
        {
            _done = true;
            if (_shown)
            {
                _stderr.Write("\r" + new string(' ', Width + 40) + "\r");
                _stderr.Flush();
            }
        }
    }
}
