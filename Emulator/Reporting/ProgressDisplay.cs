using System.Diagnostics;

namespace MmuSim.Reporting;

/// <summary>
/// A one-line progress display for long replays: nothing for the first <see cref="Delay"/>, then every
/// <see cref="Interval"/> the bytes read (with percentage and ETA when the size is known), the read rate and the
/// records done, rewritten in place with '\r'. Cleared at the end. The caller decides whether it runs at all (only
/// when stderr is a terminal, and not with --quiet).
/// </summary>
public sealed class ProgressDisplay : IDisposable
{
    public static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    private readonly TextWriter _out;
    private readonly Func<(long Bytes, long? Length, long Records)> _probe;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private int _width;
    private bool _disposed;

    /// <param name="output">Where to draw (stderr).</param>
    /// <param name="probe">Reads the current counters; called from a timer thread.</param>
    public ProgressDisplay(TextWriter output, Func<(long Bytes, long? Length, long Records)> probe)
    {
        _out = output;
        _probe = probe;
        _timer = new Timer(_ => Tick(), null, Delay, Interval);
    }

    private void Tick()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            var (bytes, length, records) = _probe();
            string line = Format(bytes, length, records, _clock.Elapsed);
            _out.Write('\r' + line.PadRight(_width));
            _out.Flush();
            _width = line.Length;
        }
    }

    /// <summary>The text of one update.</summary>
    public static string Format(long bytes, long? length, long records, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
        double rate = bytes / seconds;
        string s = $"{Mb(bytes)}";
        if (length is long total && total > 0)
        {
            double frac = Math.Min(1.0, (double)bytes / total);
            s += $" / {Mb(total)} ({frac * 100:F1}%)";
            if (rate > 0 && bytes < total)
            {
                var eta = TimeSpan.FromSeconds((total - bytes) / rate);
                s += $"  ETA {(int)eta.TotalMinutes}:{eta.Seconds:D2}";
            }
        }
        s += $"  {rate / 1e6:F1} MB/s  {records:N0} records  ({records / seconds / 1e6:F2} M/s)";
        return s;
    }

    private static string Mb(long bytes) => $"{bytes / 1e6:F1} MB";

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _timer.Dispose();
            if (_width > 0)
            {
                _out.Write('\r' + new string(' ', _width) + '\r');
                _out.Flush();
            }
        }
    }
}
