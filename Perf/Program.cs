using System.Diagnostics;
using BenchmarkDotNet.Running;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Perf;

public static class Program
{
    /// <summary>
    /// `Perf time TRACE [PRESET] [RUNS]` times a whole replay (parse + translate, no result output) with a
    /// Stopwatch, the way the yardstick times itself; `Perf analysis TRACE MMUSIM [ROUNDS] [YARDSTICK]` times the
    /// sweep and the one-pass MRC against separate replays (<see cref="AnalysisTiming"/>); anything else goes to
    /// BenchmarkDotNet.
    /// </summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length >= 2 && args[0] == "time")
        {
            string preset = args.Length > 2 ? args[2] : "bench";
            int runs = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 5;
            await ReplayTiming.Run(args[1], Presets.All[preset], runs);
            return 0;
        }
        if (args.Length >= 3 && args[0] == "analysis")
        {
            int rounds = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 5;
            return AnalysisTiming.Run(args[1], args[2], rounds, args.Length > 4 ? args[4] : null);
        }
        if (args.Length >= 2 && args[0] == "parse")
        {
            int runs = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 9;
            await ReplayTiming.ParseOnly(args[1], runs, args.Length > 3 ? args[3] : null);
            return 0;
        }
        if (args.Length >= 2 && args[0] == "io")
        {
            ReplayTiming.IoAb(args[1], args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 9);
            return 0;
        }
        if (args.Length >= 2 && args[0] == "loop")
        {
            // For profilers: run one benchmark body for a few seconds.
            Func<ulong> body;
            if (File.Exists(args[1]))
            {
                var recs = ReplayTiming.Preparse(args[1]);
                body = () =>
                {
                    var core = new SimulatedCore(config: Presets.Bench);
                    ulong s = 0;
                    for (int k = 0; k < recs.Length; k++)
                    {
                        if (core.Execute(in recs[k], out var o))
                        {
                            s += o.Pa;
                        }
                    }
                    return s;
                };
            }
            else if (args[1] == "cold1" || args[1] == "cold2")
            {
                var b = new ColdWalkBenchmarks { TwoStage = args[1] == "cold2" };
                b.GlobalSetup();
                body = b.ColdWalk;
            }
            else
            {
                var b = new TlbHitBenchmarks { Preset = "bench", TwoStage = false };
                b.GlobalSetup();
                body = b.TlbHit;
            }
            var until = Stopwatch.StartNew();
            ulong sink = 0;
            while (until.Elapsed.TotalSeconds < 6)
            {
                sink += body();
            }
            GC.KeepAlive(sink);
            return 0;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}

/// <summary>Stopwatch timing of whole replays and of the parser alone.</summary>
public static class ReplayTiming
{
    private sealed class NullSink : IOutcomeSink
    {
        public long Count;

        public void OnOutcome(in AccessOutcome outcome) => Count++;
    }

    private readonly struct CountingHandler : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            var self = this;
            PlainAccess.EachRecord(ref self, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            var self = this;
            MemWords.EachRecord(ref self, pa, words, line);
        }

        public void OnRecord(in TraceRecord record)
        {
        }
    }

    private sealed class ListHandlerState
    {
        public readonly List<TraceRecord> Records = new(1 << 20);
    }

    private readonly struct ListHandler(ListHandlerState state) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            var self = this;
            PlainAccess.EachRecord(ref self, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            var self = this;
            MemWords.EachRecord(ref self, pa, words, line);
        }

        public void OnRecord(in TraceRecord record) => state.Records.Add(record);
    }

    public static TraceRecord[] Preparse(string path)
    {
        var state = new ListHandlerState();
        TextTraceParser.ParseAsync(System.IO.Pipelines.PipeReader.Create(File.OpenRead(path)), path, new ListHandler(state)).AsTask().GetAwaiter().GetResult();
        return state.Records.ToArray();
    }

    /// <summary>
    /// Parse-only timing, median ns per line and MB/s over the runs, of four ways in: the file's bytes already in
    /// memory through a MemoryStream and the CLI's pipe (64 KiB); the file by path through the stream and pipe
    /// (what `replay` did before FileTraceReader); the file by path through FileTraceReader (what `replay` does now);
    /// and a read-only memory map of the whole file parsed in place (the alternative FileTraceReader was measured
    /// against).
    /// </summary>
    public static async Task ParseOnly(string path, int runs, string? only = null)
    {
        long bytes = new FileInfo(path).Length;
        byte[] data = await File.ReadAllBytesAsync(path);
        await Time("memory+pipe", async () =>
        {
            var reader = System.IO.Pipelines.PipeReader.Create(new MemoryStream(data), new System.IO.Pipelines.StreamPipeReaderOptions(bufferSize: 1 << 16));
            return await TextTraceParser.ParseAsync(reader, path, new CountingHandler());
        });
        data = [];
        await Time("file+pipe", async () =>
        {
            await using var input = TraceInput.Open(path);
            return await TraceReaders.ParseAsync(input, new CountingHandler(), direct: false);
        });
        await Time("file direct", async () =>
        {
            await using var input = TraceInput.Open(path);
            return await TraceReaders.ParseAsync(input, new CountingHandler());
        });
        await Time("mmap", () => Task.FromResult(MappedParse(path)));

        async Task Time(string what, Func<Task<long>> parse)
        {
            if (only is not null && !what.StartsWith(only, StringComparison.Ordinal))
            {
                return;
            }
            var times = new List<double>();
            var cpu = new List<double>();
            long lines = 0;
            var self = Process.GetCurrentProcess();
            for (int i = 0; i < runs; i++)
            {
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                lines = await parse();
                times.Add(sw.Elapsed.TotalMilliseconds);
                self.Refresh();
                cpu.Add((self.TotalProcessorTime - cpu0).TotalMilliseconds);
            }
            times.Sort();
            cpu.Sort();
            double med = times[times.Count / 2];
            // CPU time (all threads) is less sensitive than wall time to other work on this shared 2-core machine.
            Console.WriteLine($"{what,-12} median {med,7:F1} ms (min {times[0],7:F1}, cpu median {cpu[cpu.Count / 2],7:F1}) over {runs} runs = {med * 1e6 / lines,5:F1} ns/line (min {times[0] * 1e6 / lines,5:F1}), {bytes / (med / 1000) / 1e6,5:F0} MB/s ({lines:N0} lines, {bytes:N0} bytes)");
        }
    }

    /// <summary>
    /// The ways of reading a file directly, interleaved run by run so that the noise of this shared machine hits them
    /// alike: FileTraceReader with 64 KiB, 256 KiB and 1 MiB reads, and the whole file memory-mapped. Best of N.
    /// </summary>
    public static void IoAb(string path, int runs)
    {
        var ways = new (string Name, Func<long> Parse)[]
        {
            ("read 64K", () => Direct(path, 1 << 16)),
            ("read 256K", () => Direct(path, 1 << 18)),
            ("read 1M", () => Direct(path, 1 << 20)),
            ("mmap", () => MappedParse(path)),
        };
        var best = new double[ways.Length];
        Array.Fill(best, double.MaxValue);
        long lines = 0;
        for (int r = 0; r < runs; r++)
        {
            for (int w = 0; w < ways.Length; w++)
            {
                var sw = Stopwatch.StartNew();
                lines = ways[w].Parse();
                best[w] = Math.Min(best[w], sw.Elapsed.TotalMilliseconds);
            }
        }
        for (int w = 0; w < ways.Length; w++)
        {
            Console.WriteLine($"{ways[w].Name,-10} best {best[w],7:F1} ms = {best[w] * 1e6 / lines,5:F2} ns/line");
        }

        static long Direct(string path, int block)
        {
            using var input = TraceInput.Open(path);
            return FileTraceReader.ParseLines(input, default(TextTraceParser.TextLineFormat), new CountingHandler(), null, block);
        }
    }

    /// <summary>The whole file mapped read-only and parsed in place, in windows of 64 MiB (lines straddling a window
    /// start the next one: the mapping is contiguous).</summary>
    private static unsafe long MappedParse(string path)
    {
        using var mmf = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        using var view = mmf.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        long len = new FileInfo(path).Length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            var state = new LineState(path, ParseOptions.Strict);
            var format = default(TextTraceParser.TextLineFormat);
            var handler = new CountingHandler();
            long pos = 0;
            const int Window = 64 << 20;
            while (true)
            {
                int n = (int)Math.Min(Window, len - pos);
                bool final = pos + n == len;
                pos += LineReader.ParseSpan(new ReadOnlySpan<byte>(p + pos, n), ref state, ref format, ref handler, final);
                if (final)
                {
                    break;
                }
            }
            state.Dispose();
            return state.Line;
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    public static async Task Run(string path, ModelConfig config, int runs)
    {
        byte[] bytes = await File.ReadAllBytesAsync(path);
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            var reader = System.IO.Pipelines.PipeReader.Create(new MemoryStream(bytes));
            // parse only
            await TextTraceParser.ParseAsync(reader, path, new CountingHandler());
            double parse = sw.Elapsed.TotalMilliseconds;

            sw.Restart();
            var core = new SimulatedCore(config: config);
            core.Mmu.Record.Detailed = false; // as the CLI replays
            var sink = new NullSink();
            await new Replayer(core, sink).ReplayAsync(new MemoryStream(bytes), path);
            double total = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            var core2 = new SimulatedCore(config: config);
            core2.Mmu.Record.Detailed = false;
            using (var writer = new MmuSim.Reporting.ResultWriter(Stream.Null))
            {
                await new Replayer(core2, writer).ReplayAsync(new MemoryStream(bytes), path);
            }
            Console.Write($"[with ResultWriter(Stream.Null): {sw.Elapsed.TotalMilliseconds:F1} ms] ");
            var s = core.Stats;
            // Pre-parsed: decode everything first, then time the replay loop alone (the yardstick's --preparsed).
            var state = new ListHandlerState();
            await TextTraceParser.ParseAsync(System.IO.Pipelines.PipeReader.Create(new MemoryStream(bytes)), path, new ListHandler(state));
            var recs = state.Records.ToArray();
            var core3 = new SimulatedCore(config: config);
            core3.Mmu.Record.Detailed = false;
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            int gcs = GC.CollectionCount(0);
            sw.Restart();
            ulong sum = 0;
            for (int k = 0; k < recs.Length; k++)
            {
                if (core3.Execute(in recs[k], out var o))
                {
                    sum += o.Pa;
                }
            }
            double replayOnly = sw.Elapsed.TotalMilliseconds;
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            gcs = GC.CollectionCount(0) - gcs;
            GC.KeepAlive(sum);
            Console.Write($"[replay loop allocated {allocated:N0} B, {gcs} gen-0 GCs] ");
            Console.Write($"[replay loop alone (preparsed): {replayOnly:F1} ms = {replayOnly * 1e6 / core3.Stats.Accesses:F1} ns/access] ");
            Console.WriteLine($"run {i}: parse only {parse,8:F1} ms   parse+replay {total,8:F1} ms   accesses {s.Accesses:N0}  walks {s.Walks:N0}  reads {s.DescriptorReads:N0}  cycles {s.TranslationCycles:N0}  ({s.Accesses / (total / 1000) / 1e6:F1} M accesses/s)");
        }
    }
}
