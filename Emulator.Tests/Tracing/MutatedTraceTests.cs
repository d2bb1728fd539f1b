using System.Text;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// Damaged input, as a user's tools produce it: real traces (text, binary, valgrind lackey) with bytes changed,
/// characters of the format inserted, lines repeated, numbers run long, files cut short. Whatever the damage, a replay
/// either completes or stops with a trace error naming the file and the place (line and column, or byte offset), or
/// a memory-limit error: never another exception, and the same from every path that reads it (the pipe, the direct
/// file reader with its in-place access runs, with and without results), with the same results before the error.
/// </summary>
public sealed class MutatedTraceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-mutated-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Bytes a damaged trace is likely to hold: the format's own letters, digits and separators.</summary>
    private static readonly byte[] Alphabet = Encoding.ASCII.GetBytes("RWXrwx0123456789abcdefABCDEFxX \t\n\r#-memregatdumptlbiramel_.,:;\0\u00ff");

    private static IEnumerable<string> Sources()
    {
        yield return Path.Combine(TestPaths.Traces, "sample", "example.trace");
        yield return Path.Combine(TestPaths.Traces, "bench", "regimes.trace");
        yield return Path.Combine(TestPaths.Traces, "bench", "spec_example.trace");
        foreach (string name in new[] { "q0003", "q0006", "q0011", "q0016", "p0000", "p0007" })
        {
            yield return Path.Combine(TestPaths.Qemu, name + ".trace");
        }
    }

    private static byte[] Mutate(byte[] original, Random r)
    {
        var bytes = new List<byte>(original);
        int edits = r.Next(1, 6);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = r.Next(bytes.Count);
            switch (r.Next(7))
            {
                case 0:
                    bytes[at] = Alphabet[r.Next(Alphabet.Length)];
                    break;
                case 1:
                    bytes.Insert(at, Alphabet[r.Next(Alphabet.Length)]);
                    break;
                case 2:
                    bytes.RemoveAt(at);
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at); // the file ends early
                    break;
                case 4:
                    bytes[at] = (byte)r.Next(256);
                    break;
                case 5:
                {
                    // A line repeated somewhere else.
                    int start = bytes.LastIndexOf((byte)'\n', at) + 1;
                    int end = bytes.IndexOf((byte)'\n', at);
                    if (end > start)
                    {
                        var line = bytes.GetRange(start, end - start + 1);
                        bytes.InsertRange(r.Next(bytes.Count), line);
                    }
                    break;
                }
                default:
                {
                    // A long run of digits: numbers beyond 64 bits, lines beyond any buffer.
                    int n = r.Next(1, 40);
                    for (int i = 0; i < n; i++)
                    {
                        bytes.Insert(at, (byte)"0123456789abcdef"[r.Next(16)]);
                    }
                    break;
                }
            }
        }
        return bytes.ToArray();
    }

    /// <summary>What one replay ended with: the error message (null if none), the results written, the records and the lines skipped.</summary>
    private static async Task<(string? Error, List<AccessOutcome> Results, long Records, long Skipped)> Replay(Func<Replayer, Task> run, bool results,
        TraceFormat format = TraceFormat.Text, bool skip = false)
    {
        var core = new SimulatedCore(config: Presets.NeoverseN1) { CheckStale = true };
        core.Memory.MaxBytes = 64L << 20;
        var sink = results ? new Collector() : null;
        // The format named, as --format does: a damaged file must not be taken for another format.
        var parse = new ParseOptions { SkipBadLines = skip };
        var replayer = new Replayer(core, sink, new ReplayOptions { Format = format, Parse = parse });
        string? error = null;
        try
        {
            await run(replayer);
        }
        catch (TraceFormatException e)
        {
            error = e.Message;
        }
        catch (MemoryLimitException e)
        {
            error = "memory: " + e.Message;
        }
        return (error, sink?.Outcomes ?? [], core.Stats.Records, parse.BadLines);
    }

    /// <summary>
    /// Replays one damaged file through the pipe and the direct file reader with results, and without results
    /// (the in-place access runs): the same error, records, skipped lines and results from each. Returns whether it
    /// was refused, after checking the error names its place (<paramref name="place"/>: a pattern after "FILE:"),
    /// and how many lines were skipped.
    /// </summary>
    private async Task<(bool Refused, long Skipped)> Replayed(byte[] bytes, string name, TraceFormat format, string place, bool skip = false)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        var piped = await Replay(rp => rp.ReplayAsync(new MemoryStream(bytes), path).AsTask(), results: true, format, skip);
        var direct = await Replay(rp => rp.ReplayFilesAsync([path]).AsTask(), results: true, format, skip);
        var lean = await Replay(rp => rp.ReplayFilesAsync([path]).AsTask(), results: false, format, skip);
        Assert.Equal(piped.Error, direct.Error);
        Assert.Equal(piped.Error, lean.Error);
        Assert.Equal(piped.Records, lean.Records);
        Assert.Equal((piped.Skipped, piped.Skipped), (direct.Skipped, lean.Skipped));
        OutcomeComparer.AssertSame(piped.Results, direct.Results, name);
        if (piped.Error is not { } message || message.StartsWith("memory: ", StringComparison.Ordinal))
        {
            return (false, piped.Skipped);
        }
        // The place is the user's way back to the damage.
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(message, $"^{System.Text.RegularExpressions.Regex.Escape(path)}:{place}: "), message);
        return (true, piped.Skipped);
    }

    private const string LineAndColumn = "[0-9]+:[0-9]+";

    /// <summary>Replays <paramref name="rounds"/> damaged copies of the line-format <paramref name="sources"/>; returns how many were refused.</summary>
    private async Task<int> RefusedOf(byte[][] sources, Random r, int rounds, string name, TraceFormat format)
    {
        int errors = 0;
        for (int round = 0; round < rounds; round++)
        {
            if ((await Replayed(Mutate(sources[r.Next(sources.Length)], r), $"{round}-{name}", format, LineAndColumn)).Refused)
            {
                errors++;
            }
        }
        return errors;
    }

    [Theory]
    [InlineData(1, 150)]
    [InlineData(2, 150)]
    [InlineData(3, 150)]
    public async Task DamagedTextTracesEndInATraceErrorOrComplete(int seed, int rounds)
    {
        var sources = Sources().Select(File.ReadAllBytes).ToArray();
        int errors = await RefusedOf(sources, new Random(seed), rounds, $"m{seed}.trace", TraceFormat.Text);
        Assert.True(errors > rounds / 4, $"only {errors} of {rounds} damaged traces were refused");
    }

    /// <summary>
    /// With --skip-bad-lines, a damaged text trace is replayed to its end (or to an error no line skip can get past):
    /// every reading path skips the same lines and replays the same records with the same results.
    /// </summary>
    [Theory]
    [InlineData(4, 150)]
    [InlineData(5, 150)]
    public async Task DamagedTextTracesSkipTheSameLinesOnEveryPath(int seed, int rounds)
    {
        var r = new Random(seed);
        var sources = Sources().Select(File.ReadAllBytes).ToArray();
        int skipping = 0;
        for (int round = 0; round < rounds; round++)
        {
            var (_, skipped) = await Replayed(Mutate(sources[r.Next(sources.Length)], r), $"s{seed}-{round}.trace", TraceFormat.Text, LineAndColumn, skip: true);
            skipping += skipped > 0 ? 1 : 0;
        }
        Assert.True(skipping > rounds / 4, $"only {skipping} of {rounds} damaged traces had a line skipped");
    }

    /// <summary>Valgrind lackey output damaged the same ways: a trace error naming line and column, or a complete replay.</summary>
    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 100)]
    public async Task DamagedLackeyTracesEndInATraceErrorOrComplete(int seed, int rounds)
    {
        // The bundled valgrind output, decompressed: its banner and the first few thousand records.
        byte[] whole;
        await using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(TestPaths.Traces, "lackey", "sumsort.lackey.gz")), System.IO.Compression.CompressionMode.Decompress))
        {
            var ms = new MemoryStream();
            await gz.CopyToAsync(ms);
            whole = ms.ToArray();
        }
        int cut = whole.AsSpan(0, 60_000).LastIndexOf((byte)'\n') + 1;
        int errors = await RefusedOf([whole[..cut]], new Random(seed), rounds, $"f{seed}.lackey", TraceFormat.Lackey);
        Assert.True(errors > rounds / 10, $"only {errors} of {rounds} damaged traces were refused");
    }

    /// <summary>
    /// The binary format, damaged the same ways at the byte level (tags, sizes, registers, operands, the header, a
    /// file cut short): a trace error naming the byte offset, or a complete replay; the same from every path.
    /// </summary>
    [Theory]
    [InlineData(1, 150)]
    [InlineData(2, 150)]
    public async Task DamagedBinaryTracesEndInATraceErrorOrComplete(int seed, int rounds)
    {
        var r = new Random(seed);
        var sources = new List<byte[]>();
        foreach (string path in Sources())
        {
            var records = new RecordList();
            await using (var s = File.OpenRead(path))
            {
                using var input = TraceInput.Open(s, path, TraceFormat.Text);
                await TraceReaders.ParseAsync(input, records);
            }
            var ms = new MemoryStream();
            using (var w = new BinaryTraceWriter(ms, ownsStream: false))
            {
                foreach (var rec in records.Records)
                {
                    w.OnRecord(in rec);
                }
            }
            sources.Add(ms.ToArray());
        }
        int errors = 0;
        for (int round = 0; round < rounds; round++)
        {
            byte[] bytes = sources[r.Next(sources.Count)].ToArray();
            for (int e = r.Next(1, 4); e > 0; e--)
            {
                int at = r.Next(bytes.Length);
                switch (r.Next(3))
                {
                    case 0:
                        bytes[at] = (byte)r.Next(256);
                        break;
                    case 1:
                        bytes[at] ^= (byte)(1 << r.Next(8));
                        break;
                    default:
                        bytes = bytes[..Math.Max(at, 1)]; // the file ends early
                        break;
                }
            }
            if ((await Replayed(bytes, $"b{seed}-{round}.mbt", TraceFormat.Binary, "byte [0-9]+")).Refused)
            {
                errors++;
            }
        }
        Assert.True(errors > rounds / 4, $"only {errors} of {rounds} damaged traces were refused");
    }
}
