using System.Text;

namespace MmuSim.Reporting;

/// <summary>
/// The text of the replay's progress line (drawn by Spectre.Console in `mmusim replay`, Cli/ReplayProgress.cs): a bar
/// when the input's size is known, the bytes read with percentage and ETA, the read rate and the records done, cut to
/// the terminal's width so that it never wraps (a wrapped line is redrawn below itself and piles up).
/// </summary>
public static class ProgressDisplay
{
    /// <summary>Nothing is shown for a replay shorter than this.</summary>
    public static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);

    /// <summary>How often the line is redrawn.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    /// <summary>Narrower than this, the line has no bar (the figures are worth more than a few cells of bar).</summary>
    public const int MinimumBarWidth = 60;

    /// <summary>The figures of one update.</summary>
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

    /// <summary>
    /// The whole line for a terminal <paramref name="width"/> columns wide: at most <c>width − 1</c> characters (a
    /// character in the last column makes some terminals wrap at once), with a bar of a fifth of the width when the
    /// size is known and the terminal is at least <see cref="MinimumBarWidth"/> wide; figures that do not fit are cut
    /// and end with '…'. Empty when there is no room at all.
    /// </summary>
    public static string Line(long bytes, long? length, long records, TimeSpan elapsed, int width)
    {
        int room = width - 1;
        if (room <= 0)
        {
            return "";
        }
        var sb = new StringBuilder();
        if (length is long total && total > 0 && width >= MinimumBarWidth)
        {
            int cells = width / 5;
            int done = (int)Math.Round(cells * Math.Min(1.0, (double)bytes / total));
            sb.Append('[').Append('#', done).Append('-', cells - done).Append("] ");
        }
        sb.Append(Format(bytes, length, records, elapsed));
        return Fit(sb.ToString(), room);
    }

    /// <summary><paramref name="text"/> cut to <paramref name="room"/> characters, the last one '…' when cut.</summary>
    public static string Fit(string text, int room) =>
        room <= 0 ? "" : text.Length <= room ? text : text[..(room - 1)] + "…";

    private static string Mb(long bytes) => $"{bytes / 1e6:F1} MB";
}
