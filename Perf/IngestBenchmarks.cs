using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// Trace ingestion alone (parse into a handler that only counts): text lines, binary records, lackey lines. Each
/// benchmark reads the same accesses (R/W/X mix, explicit sizes on some lines, 6- and 12-digit addresses as in the
/// shared benchmark traces); times and allocations are per record (OperationsPerInvoke), so "Allocated" is bytes
/// per record and must read 0. The MB/s column is the text's (or binary's) size over the time.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class IngestBenchmarks
{
    public const int Records = 1_000_000;

    private byte[] _text = [];
    private byte[] _binary = [];
    private byte[] _lackey = [];

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
            AddColumn(new RateColumn());
        }
    }

    /// <summary>Counts records, so the parse cannot be optimised away.</summary>
    private struct Counter : ITraceHandler
    {
        public long Count;
        public ulong Sum;

        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            PlainAccess.EachRecord(ref this, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            MemWords.EachRecord(ref this, pa, words, line);
        }

        public void OnRecord(in TraceRecord record)
        {
            Count++;
            Sum += record.Address;
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        var text = new StringBuilder(Records * 20);
        var lackey = new StringBuilder(Records * 20);
        var ms = new MemoryStream();
        using (var bin = new BinaryTraceWriter(ms, ownsStream: false))
        {
            for (int i = 0; i < Records; i++)
            {
                int kind = rng.Next(100);
                var op = kind < 56 ? TraceOp.Read : kind < 80 ? TraceOp.Write : TraceOp.Fetch;
                ulong va = op == TraceOp.Fetch ? 0x400000UL + (ulong)rng.Next(1 << 20) * 4 : 0x1000_0000_0000UL + (ulong)rng.NextInt64(1L << 28) * 8;
                byte size = op == TraceOp.Fetch ? (byte)4 : rng.Next(4) == 0 ? (byte)4 : (byte)8;
                text.Append(op == TraceOp.Read ? "R 0x" : op == TraceOp.Write ? "W 0x" : "X 0x").Append(va.ToString("x"));
                text.Append(size != 8 && op != TraceOp.Fetch ? " 4\n" : "\n");
                lackey.Append(op == TraceOp.Fetch ? "I  " : op == TraceOp.Read ? " L " : " S ").Append(va.ToString("x8")).Append(',').Append(size).Append('\n');
                bin.OnRecord(new TraceRecord { Op = op, Address = va, Size = size });
            }
        }
        _text = Encoding.ASCII.GetBytes(text.ToString());
        _lackey = Encoding.ASCII.GetBytes(lackey.ToString());
        _binary = ms.ToArray();
        Bytes["Text"] = _text.Length;
        Bytes["Binary"] = _binary.Length;
        Bytes["Lackey"] = _lackey.Length;
    }

    internal static readonly Dictionary<string, long> Bytes = new();

    private static PipeReader Pipe(byte[] data) => PipeReader.Create(new MemoryStream(data, writable: false), new StreamPipeReaderOptions(bufferSize: 1 << 16));

    [Benchmark(Baseline = true, OperationsPerInvoke = Records)]
    public long Text() => LineReader.ParseAsync(Pipe(_text), "text", default(TextTraceParser.TextLineFormat), default(Counter)).AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Records)]
    public long Binary() => BinaryTraceReader.ParseAsync(Pipe(_binary), "binary", default(Counter)).AsTask().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Records)]
    public long Lackey() => LineReader.ParseAsync(Pipe(_lackey), "lackey", default(LackeyFormat), default(Counter)).AsTask().GetAwaiter().GetResult();

    /// <summary>Input sizes, regenerated in the host process (the benchmarks run in a child process); the generator is seeded.</summary>
    private static readonly Lazy<Dictionary<string, long>> Sizes = new(() =>
    {
        new IngestBenchmarks().Setup();
        return Bytes;
    });

    /// <summary>Input bytes per second and records per second, from the mean time per record.</summary>
    private sealed class RateColumn : IColumn
    {
        public string Id => nameof(RateColumn);
        public string ColumnName => "Throughput";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => false;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Input megabytes and million records per second (mean)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } stats)
            {
                return "-";
            }
            double nsPerRecord = stats.Mean;
            string name = benchmarkCase.Descriptor.WorkloadMethod.Name;
            double bytesPerRecord = (double)Sizes.Value[name] / Records;
            double mrec = 1e3 / nsPerRecord;
            return $"{bytesPerRecord * mrec:F0} MB/s, {mrec:F1} Mrec/s";
        }
    }
}
