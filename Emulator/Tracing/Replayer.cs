using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using MmuSim.Core;
using MmuSim.Paging;

namespace MmuSim.Tracing;

/// <summary>When demand paging serves translation faults.</summary>
public enum DemandPagingMode : byte
{
    /// <summary>For foreign traces (virtual addresses only), not for our own formats.</summary>
    Auto,
    /// <summary>For every input, our own formats included.</summary>
    On,
    /// <summary>Never: a foreign trace then runs with whatever translation regime is set (by default, MMU off).</summary>
    Off,
}

/// <summary>Options of a replay.</summary>
public sealed record ReplayOptions
{
    /// <summary>Stop after the first access or AT that faults.</summary>
    public bool StopOnFault { get; init; }

    /// <summary>Input format; <see cref="TraceFormat.Auto"/> decides per input.</summary>
    public TraceFormat Format { get; init; } = TraceFormat.Auto;

    /// <summary>Malformed-input policy (--skip-bad-lines); counts what it skipped.</summary>
    public ParseOptions Parse { get; init; } = new();

    public DemandPagingMode DemandPaging { get; init; } = DemandPagingMode.Auto;

    /// <summary>How demand paging builds tables, when it runs.</summary>
    public DemandPagingOptions Paging { get; init; } = new();

    /// <summary>Bytes of pipe buffer per read.</summary>
    public int BufferSize { get; init; } = 1 << 16;

    /// <summary>
    /// Read uncompressed text and binary files by path through <see cref="FileTraceReader"/> (false: always through
    /// the stream and pipe, as standard input is).
    /// </summary>
    public bool DirectFileReads { get; init; } = true;
}

/// <summary>
/// Streams one or more traces, in order and as one stream, into a <see cref="SimulatedCore"/> and hands every
/// outcome to a sink. Each input is opened by <see cref="TraceInput"/> (file or `-`, gzip/xz, format detection) and
/// read by its format's parser; memory use does not grow with the length of a trace. Line numbers restart in each
/// file; errors name the file. Foreign traces run at EL0 under demand paging unless told otherwise.
/// </summary>
public sealed class Replayer
{
    private readonly SimulatedCore _core;
    private readonly IOutcomeSink? _sink;
    private readonly bool _stopOnFault;
    private readonly ReplayOptions _options;
    private long _lastLine;

    /// <param name="sink">Where outcomes go; null when nobody reads them (no call per access at all).</param>
    public Replayer(SimulatedCore core, IOutcomeSink? sink, ReplayOptions? options = null)
    {
        _core = core;
        _sink = sink;
        _options = options ?? new ReplayOptions();
        _stopOnFault = _options.StopOnFault;
        _discardOutcomes = sink is null && !_stopOnFault;
    }

    /// <summary>Nobody reads outcomes (no sink, no stop at a fault): the core need not build them.</summary>
    private readonly bool _discardOutcomes;

    /// <summary>True when the replay stopped at a fault because of <see cref="ReplayOptions.StopOnFault"/>.</summary>
    public bool StoppedOnFault { get; private set; }

    /// <summary>The demand pager, once one was needed.</summary>
    public DemandPager? Pager { get; private set; }

    /// <summary>The input being replayed (for a progress display).</summary>
    public TraceInput? Current { get; private set; }

    private sealed class StopSignal : Exception;

    private readonly struct Handler(Replayer owner) : ITraceHandler
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
            owner._lastLine = record.Line;
            var core = owner._core;
            if (core.Execute(in record, out var outcome))
            {
                owner._sink?.OnOutcome(in outcome);
                if (owner._stopOnFault && outcome.IsFault)
                {
                    owner.StoppedOnFault = true;
                    throw new StopSignal();
                }
            }
        }
    }

    /// <summary>
    /// The handler when nobody reads outcomes: a type of its own, so the parsers are specialised for it and the
    /// replay of a record sits directly in their loop, and runs of accesses go to the core's run loop.
    /// </summary>
    private readonly struct DiscardingHandler(Replayer owner) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine) =>
            owner._core.ExecuteAccessRun(run, firstLine, ref owner._lastLine);

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            owner._lastLine = line;
            owner._core.ExecuteMemWords(pa, words, line);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnRecord(in TraceRecord record)
        {
            owner._lastLine = record.Line;
            owner._core.ExecuteDiscarding(in record);
        }
    }

    /// <summary>Replays a stream (format per <see cref="ReplayOptions.Format"/>). Returns false when it stopped on a fault.</summary>
    public async ValueTask<bool> ReplayAsync(Stream stream, string source, CancellationToken ct = default)
    {
        await using var input = TraceInput.Open(new NonClosingStream(stream), source, _options.Format);
        return await ReplayAsync(input, ct).ConfigureAwait(false);
    }

    /// <summary>Replays an opened input. Returns false when it stopped on a fault.</summary>
    public async ValueTask<bool> ReplayAsync(TraceInput input, CancellationToken ct = default)
    {
        bool foreign = input.IsForeign;
        if (_options.DemandPaging == DemandPagingMode.On || (foreign && _options.DemandPaging == DemandPagingMode.Auto))
        {
            Pager ??= new DemandPager(_core, _options.Paging);
        }
        if (foreign)
        {
            _core.CurrentEl = 0; // user-space traces: EL0 of the one guest
        }
        Current = input;
        _lastLine = 0;
        var parse = _options.Parse;
        long lines = 0;
        bool completed = false;
        try
        {
            lines = _discardOutcomes
                ? await TraceReaders.ParseAsync(input, new DiscardingHandler(this), parse, _options.BufferSize, ct, _options.DirectFileReads).ConfigureAwait(false)
                : await TraceReaders.ParseAsync(input, new Handler(this), parse, _options.BufferSize, ct, _options.DirectFileReads).ConfigureAwait(false);
            completed = true;
            return true;
        }
        catch (StopSignal)
        {
            return false;
        }
        finally
        {
            _core.Stats.Lines += completed ? lines : _lastLine;
            _core.Stats.BadLines = parse.BadLines;
        }
    }

    /// <summary>Replays files in order (`-` is standard input). Returns false when it stopped on a fault.</summary>
    public async ValueTask<bool> ReplayFilesAsync(IEnumerable<string> paths, CancellationToken ct = default)
    {
        foreach (var path in paths)
        {
            await using var input = TraceInput.Open(path, _options.Format);
            if (!await ReplayAsync(input, ct).ConfigureAwait(false))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>Lets a caller keep ownership of a stream handed to <see cref="TraceInput"/>: reads pass through, disposal does not.</summary>
internal sealed class NonClosingStream(Stream source) : ReadOnlyStream(source, ownsInner: false)
{
    public override int Read(Span<byte> buffer) => Inner.Read(buffer);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Inner.ReadAsync(buffer, ct);
}
