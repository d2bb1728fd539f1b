using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using MmuSim.Core;
using MmuSim.Paging;
using MmuSim.Tracing;

namespace MmuSim.Replay;

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

/// <summary>
/// Watches a replay record by record (explain, faults): told after each record has executed, with its outcome when
/// it produced one, while the PE still holds that record's walk (<see cref="Translation.Mmu.Record"/>).
/// </summary>
public interface IReplayObserver
{
    /// <summary>
    /// Called after <paramref name="record"/> of input <paramref name="input"/> (0-based) ran on <paramref name="pe"/>
    /// (for a `cpu` line, the PE it chose). Return false to stop the replay there.
    /// </summary>
    bool OnExecuted(int input, SimulatedCore pe, in TraceRecord record, bool produced, in AccessOutcome outcome);

    /// <summary>
    /// Called before <paramref name="record"/> runs on <paramref name="pe"/> (not for `cpu` lines): what the record
    /// is about to overwrite (a descriptor a `mem` line replaces, a register's old value) is still in place.
    /// </summary>
    void OnExecuting(int input, SimulatedCore pe, in TraceRecord record)
    {
    }
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

    /// <summary>
    /// Without results: replay each access on its own, in order, instead of through the PE's run loop (which commits a
    /// run's TLB hits in the order of each entry's last hit: the same state, but a TLB observer would not see each
    /// lookup in order). The one-pass miss-ratio curves need every lookup in order (Analysis/MrcRun).
    /// </summary>
    public bool InOrder { get; init; }

    /// <summary>Hash each input's bytes as they are read (<see cref="TraceInput.Digest"/>, in <see cref="Replayer.Opened"/>).</summary>
    public bool DigestInputs { get; init; }
}

/// <summary>How a part of a replay in parts ended (<see cref="Replayer.ReplayRecordedPart"/>).</summary>
public enum RecordedPart
{
    /// <summary>More of the input is to come.</summary>
    Paused,

    /// <summary>The whole input is replayed.</summary>
    Completed,

    /// <summary>A fault (with stop-on-fault) or the observer stopped the replay.</summary>
    Stopped,
}

/// <summary>
/// Streams one or more traces, in order and as one stream, into the PEs of a <see cref="SimulatedSystem"/> (each
/// trace starts on the PE the replayer was made with, PE 0; `cpu N` moves the following lines to PE N) and hands every
/// outcome to a sink. Each input is opened by <see cref="TraceInput"/> (file or `-`, gzip/xz, format detection) and
/// read by its format's parser; memory use does not grow with the length of a trace. Line numbers restart in each
/// file; errors name the file. Foreign traces run at EL0 under demand paging unless told otherwise.
/// </summary>
public sealed class Replayer
{
    private readonly SimulatedSystem _system;
    private readonly SimulatedCore _first;
    /// <summary>The PE the next record runs on: the first one until a `cpu` line names another.</summary>
    private SimulatedCore _core;
    /// <summary>A `cpu` line has been read: results name their PE from here on.</summary>
    private bool _cpuLines;
    private readonly List<SimulatedCore> _named = new();
    private readonly IOutcomeSink? _sink;
    private readonly bool _stopOnFault;
    private readonly ReplayOptions _options;
    private long _lastLine;

    /// <param name="sink">Where outcomes go; null when nobody reads them (no call per access at all).</param>
    /// <param name="observer">Told after every record (explain, faults); null for a plain replay.</param>
    public Replayer(SimulatedCore core, IOutcomeSink? sink, ReplayOptions? options = null, IReplayObserver? observer = null)
    {
        _core = core;
        _first = core;
        _system = core.System;
        _sink = sink;
        _observer = observer;
        _options = options ?? new ReplayOptions();
        _stopOnFault = _options.StopOnFault;
        _discardOutcomes = sink is null && observer is null && !_stopOnFault;
    }

    private readonly IReplayObserver? _observer;

    /// <summary>The PE the replay runs on now: the one it was made with (PE 0 of its system) until a `cpu` line names another.</summary>
    public SimulatedCore Core => _core;

    /// <summary>The system whose PEs the replay runs (<see cref="SimulatedCore.System"/> of the PE it was made with).</summary>
    public SimulatedSystem System => _system;

    /// <summary>
    /// Records run so far on every PE (for a progress display, which may read it from another thread: a PE added
    /// meanwhile is counted at the next read).
    /// </summary>
    public long Records
    {
        get
        {
            var pes = _system.Pes;
            long n = 0;
            for (int i = 0, count = pes.Count; i < count; i++)
            {
                n += pes[i].Stats.Records;
            }
            return n;
        }
    }

    /// <summary>True once a trace has had a `cpu` line: results carry `cpu` from that line on.</summary>
    public bool HasCpuLines => _cpuLines;

    /// <summary>
    /// The PEs to report, by number: the PE the replay was made with, and every PE a `cpu` line named (PEs made only
    /// to keep numbers equal to indices, by a `cpu 5` before PEs 1..4 existed, ran nothing and are left out).
    /// </summary>
    public IReadOnlyList<SimulatedCore> ReportedPes
    {
        get
        {
            var pes = new List<SimulatedCore> { _first };
            foreach (var pe in _named)
            {
                if (pe != _first)
                {
                    pes.Add(pe);
                }
            }
            pes.Sort((a, b) => a.Index.CompareTo(b.Index));
            return pes;
        }
    }

    /// <summary>Demand paging on every PE of the system, over the same tables (made at the first need).</summary>
    private void StartDemandPaging()
    {
        Pager ??= new DemandPager(_first, _options.Paging);
        foreach (var pe in _system.Pes)
        {
            if (pe.DemandPager is null)
            {
                Pager.Attach(pe);
            }
        }
    }

    /// <summary>
    /// The records that act on the replay rather than on a PE: `cpu N` chooses the PE the next records run on;
    /// `paging demand` (a trace converted from a foreign format) asks for demand paging, which `--demand-paging auto`
    /// then gives as it does to the foreign original (docs/trace-format.md, "Demand paging carried by converted
    /// traces"); `on` has it already, `off` ignores it.
    /// </summary>
    private void Control(in TraceRecord record)
    {
        if (record.Op == TraceOp.Cpu)
        {
            SelectPe((int)record.Value);
        }
        else if (_options.DemandPaging == DemandPagingMode.Auto)
        {
            StartDemandPaging();
        }
    }

    /// <summary>
    /// `cpu N`: the next records run on PE N, made (with every missing lower number) as a copy of the first PE's
    /// model when it does not exist yet: the same configuration, checks, prefetching and record detail, the ID
    /// registers the others have, its own registers at reset, EL1.
    /// </summary>
    private void SelectPe(int n)
    {
        while (_system.Pes.Count <= n)
        {
            var pe = _system.AddPe();
            pe.CheckStale = _first.CheckStale;
            pe.PrefetchWalks = _first.PrefetchWalks;
            pe.Mmu.Record.Detailed = _first.Mmu.Record.Detailed;
            if (_first.Timeline is { } timeline)
            {
                pe.StartTimeline(timeline.Detailed);
            }
            Pager?.Attach(pe); // demand paging serves every PE, over the tables they share
        }
        _core = _system.Pes[n];
        _cpuLines = true;
        if (!_named.Contains(_core))
        {
            _named.Add(_core);
        }
    }

    /// <summary>Index of the input being replayed among those given to <see cref="ReplayFilesAsync"/> (0-based).</summary>
    public int InputIndex { get; private set; }

    /// <summary>True when an <see cref="IReplayObserver"/> stopped the replay.</summary>
    public bool StoppedByObserver { get; private set; }

    /// <summary>Nobody reads outcomes (no sink, no stop at a fault): the core need not build them.</summary>
    private readonly bool _discardOutcomes;

    /// <summary>True when the replay stopped at a fault because of <see cref="ReplayOptions.StopOnFault"/>.</summary>
    public bool StoppedOnFault { get; private set; }

    /// <summary>The demand pager, once one was needed.</summary>
    public DemandPager? Pager { get; private set; }

    /// <summary>Each input <see cref="ReplayInputsAsync"/> opened, in order: its name, stored size, format and compression (for provenance).</summary>
    public List<(string Source, long? Bytes, string Format, string Compression, string? Digest)> Opened { get; } = [];

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
            bool produced;
            AccessOutcome outcome;
            if (record.Op is TraceOp.Cpu or TraceOp.Paging)
            {
                owner.Control(in record);
                produced = false;
                outcome = default;
            }
            else
            {
                var core = owner._core;
                owner._observer?.OnExecuting(owner.InputIndex, core, in record);
                var timeline = core.Timeline;
                bool timed = timeline is not null && IsAccess(record.Op);
                timeline?.BeginAccessIf(timed, record.Line);
                produced = core.Execute(in record, out outcome);
                if (timed)
                {
                    outcome.Complete = timeline!.EndAccess();
                    outcome.Issue = timeline.LastIssue;
                    outcome.Timed = true;
                }
                if (produced && owner._cpuLines && outcome.Op != ResultOp.Dump)
                {
                    outcome.HasCpu = true;
                    outcome.Cpu = (byte)core.Index;
                }
            }
            if (produced)
            {
                owner._sink?.OnOutcome(in outcome);
            }
            if (owner._observer is { } observer && !observer.OnExecuted(owner.InputIndex, owner._core, in record, produced, in outcome))
            {
                owner.StoppedByObserver = true;
                throw new StopSignal();
            }
            if (produced && owner._stopOnFault && outcome.IsFault)
            {
                owner.StoppedOnFault = true;
                throw new StopSignal();
            }
        }
    }

    /// <summary>An R/W/X/ldtr/sttr record: an access the timeline times.</summary>
    private static bool IsAccess(TraceOp op) => op is TraceOp.Read or TraceOp.Write or TraceOp.Fetch or TraceOp.Ldtr or TraceOp.Sttr;

    /// <summary>
    /// <see cref="DiscardingHandler"/> on the timeline: every access between its issue and its retirement on the PE's
    /// timeline; runs go to the core's run loop, which times each access.
    /// </summary>
    private readonly struct TimedHandler(Replayer owner) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine) =>
            owner._core.ExecuteRun(run, firstLine, ref owner._lastLine);

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            owner._lastLine = line;
            owner._core.WriteMemoryWords(pa, words, line);
        }

        public void OnRecord(in TraceRecord record)
        {
            owner._lastLine = record.Line;
            if (record.Op is TraceOp.Cpu or TraceOp.Paging)
            {
                owner.Control(in record);
                return;
            }
            var core = owner._core;
            if (IsAccess(record.Op) && core.Timeline is { } timeline)
            {
                timeline.BeginAccess(record.Line);
                core.ExecuteDiscarding(in record);
                timeline.EndAccess();
            }
            else
            {
                core.ExecuteDiscarding(in record);
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
            owner._core.ExecuteRun(run, firstLine, ref owner._lastLine);

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            owner._lastLine = line;
            owner._core.WriteMemoryWords(pa, words, line);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnRecord(in TraceRecord record)
        {
            owner._lastLine = record.Line;
            if (record.Op is not (TraceOp.Cpu or TraceOp.Paging))
            {
                owner._core.ExecuteDiscarding(in record);
            }
            else
            {
                owner.Control(in record);
            }
        }
    }

    /// <summary>
    /// <see cref="DiscardingHandler"/> with every access executed on its own, in order (<see cref="ReplayOptions.InOrder"/>):
    /// the effects of <see cref="Handler"/> without an outcome to build and hand on.
    /// </summary>
    private readonly struct InOrderHandler(Replayer owner) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            var self = this;
            PlainAccess.EachRecord(ref self, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line) => new DiscardingHandler(owner).OnMemWords(pa, words, line);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnRecord(in TraceRecord record) => new DiscardingHandler(owner).OnRecord(in record);
    }

    /// <summary>Replays a stream (format per <see cref="ReplayOptions.Format"/>). Returns false when it stopped on a fault or was stopped by its observer.</summary>
    public async ValueTask<bool> ReplayAsync(Stream stream, string source, CancellationToken ct = default)
    {
        await using var input = TraceInput.Open(new NonClosingStream(stream), source, _options.Format);
        return await ReplayAsync(input, ct).ConfigureAwait(false);
    }

    /// <summary>Replays an opened input as input <paramref name="inputIndex"/> (counted from 0) of several, as <see cref="ReplayInputsAsync"/> replays each.</summary>
    public ValueTask<bool> ReplayAsync(TraceInput input, int inputIndex, CancellationToken ct = default)
    {
        InputIndex = inputIndex;
        return ReplayAsync(input, ct);
    }

    /// <summary>Replays an opened input. Returns false when it stopped on a fault or was stopped by its observer.</summary>
    public async ValueTask<bool> ReplayAsync(TraceInput input, CancellationToken ct = default)
    {
        bool foreign = input.IsForeign;
        _core = _first; // every trace starts on PE 0
        if (_options.DemandPaging == DemandPagingMode.On || (foreign && _options.DemandPaging == DemandPagingMode.Auto))
        {
            StartDemandPaging();
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
            lines = _discardOutcomes && _first.Timeline is not null
                ? await TraceReaders.ParseAsync(input, new TimedHandler(this), parse, _options.BufferSize, ct, _options.DirectFileReads).ConfigureAwait(false)
                : _discardOutcomes && _options.InOrder
                ? await TraceReaders.ParseAsync(input, new InOrderHandler(this), parse, _options.BufferSize, ct, _options.DirectFileReads).ConfigureAwait(false)
                : _discardOutcomes
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
            // Lines and skipped lines are the trace's, not a PE's: they are counted on the first PE.
            _first.Stats.Lines += completed ? lines : _lastLine;
            _first.Stats.BadLines = parse.BadLines;
        }
    }

    /// <summary>
    /// Replays a trace parsed earlier (<see cref="RecordedTrace"/>) exactly as <see cref="ReplayAsync(TraceInput, CancellationToken)"/>
    /// replays the input it was parsed from: the same start (PE 0; EL0 and demand paging for a foreign format), the
    /// same handler calls, the same line count. Returns false when it stopped on a fault or was stopped by its observer.
    /// </summary>
    public bool ReplayRecorded(RecordedTrace trace)
    {
        bool foreign = trace.IsForeign;
        _core = _first;
        if (_options.DemandPaging == DemandPagingMode.On || (foreign && _options.DemandPaging == DemandPagingMode.Auto))
        {
            Pager ??= new DemandPager(_first, _options.Paging);
        }
        if (foreign)
        {
            _core.CurrentEl = 0;
        }
        Current = null;
        _lastLine = 0;
        bool completed = false;
        try
        {
            if (_discardOutcomes && _first.Timeline is not null)
            {
                var h = new TimedHandler(this);
                trace.Replay(ref h);
            }
            else if (_discardOutcomes && _options.InOrder)
            {
                var h = new InOrderHandler(this);
                trace.Replay(ref h);
            }
            else if (_discardOutcomes)
            {
                var h = new DiscardingHandler(this);
                trace.Replay(ref h);
            }
            else
            {
                var h = new Handler(this);
                trace.Replay(ref h);
            }
            completed = true;
            return true;
        }
        catch (StopSignal)
        {
            return false;
        }
        finally
        {
            _first.Stats.Lines += completed ? trace.Lines : _lastLine;
            _first.Stats.BadLines = trace.BadLines;
        }
    }

    /// <summary>
    /// Starts a replay in parts of input <paramref name="inputIndex"/> (counted from 0), a bounded recording
    /// (<see cref="RecordedTrace.BeginBounded"/>) read as reader <paramref name="reader"/>: the same start as
    /// <see cref="ReplayRecorded(RecordedTrace)"/>. <see cref="ReplayRecordedPart"/> then goes on with it.
    /// </summary>
    /// <param name="input">The input the recording is parsed from, shown as <see cref="Current"/> (for a progress display), or null.</param>
    public void BeginRecordedPart(RecordedTrace trace, int inputIndex, TraceInput? input = null)
    {
        InputIndex = inputIndex;
        _core = _first;
        if (_options.DemandPaging == DemandPagingMode.On || (trace.IsForeign && _options.DemandPaging == DemandPagingMode.Auto))
        {
            Pager ??= new DemandPager(_first, _options.Paging);
        }
        if (trace.IsForeign)
        {
            _core.CurrentEl = 0;
        }
        Current = input;
        _lastLine = 0;
    }

    /// <summary>
    /// Goes on with a replay in parts (<see cref="BeginRecordedPart"/>) for about <paramref name="budget"/> accesses, or
    /// until it catches up with the parser. Returns <see cref="RecordedPart.Paused"/> (more to come),
    /// <see cref="RecordedPart.Completed"/> (the input is replayed: the reader has left) or
    /// <see cref="RecordedPart.Stopped"/> (a fault or the observer stopped it: the caller makes the reader leave).
    /// The figures at the end equal those of <see cref="ReplayRecorded(RecordedTrace)"/>.
    /// </summary>
    public RecordedPart ReplayRecordedPart(RecordedTrace trace, int reader, long budget)
    {
        bool paused = false;
        bool completed = false;
        try
        {
            bool done;
            if (_discardOutcomes && _first.Timeline is not null)
            {
                var h = new TimedHandler(this);
                done = trace.ReplayPart(ref h, reader, budget);
            }
            else if (_discardOutcomes && _options.InOrder)
            {
                var h = new InOrderHandler(this);
                done = trace.ReplayPart(ref h, reader, budget);
            }
            else if (_discardOutcomes)
            {
                var h = new DiscardingHandler(this);
                done = trace.ReplayPart(ref h, reader, budget);
            }
            else
            {
                var h = new Handler(this);
                done = trace.ReplayPart(ref h, reader, budget);
            }
            paused = !done;
            completed = done;
            return done ? RecordedPart.Completed : RecordedPart.Paused;
        }
        catch (StopSignal)
        {
            return RecordedPart.Stopped;
        }
        finally
        {
            // As ReplayRecorded counts them, once the part that ends the input has run (however it ended).
            if (!paused)
            {
                _first.Stats.Lines += completed ? trace.Lines : _lastLine;
                _first.Stats.BadLines = trace.BadLines;
            }
        }
    }

    /// <summary>Replays a list of parsed traces in order, as <see cref="ReplayFilesAsync"/> replays their files.</summary>
    public bool ReplayRecorded(IEnumerable<RecordedTrace> traces)
    {
        InputIndex = -1;
        foreach (var t in traces)
        {
            InputIndex++;
            if (!ReplayRecorded(t))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Replays files in order (`-` is standard input). Returns false when it stopped on a fault or was stopped by its observer.</summary>
    public ValueTask<bool> ReplayFilesAsync(IEnumerable<string> paths, CancellationToken ct = default) =>
        ReplayInputsAsync(paths, path => TraceInput.Open(path, _options.Format, digest: _options.DigestInputs), ct);

    /// <summary>
    /// Replays inputs in order, each opened by <paramref name="open"/> from its name (for a caller that has already
    /// read standard input, say). Returns false when it stopped on a fault or was stopped by its observer.
    /// </summary>
    public async ValueTask<bool> ReplayInputsAsync(IEnumerable<string> paths, Func<string, TraceInput> open, CancellationToken ct = default)
    {
        InputIndex = -1;
        foreach (var path in paths)
        {
            InputIndex++;
            await using var input = open(path);
            Opened.Add((input.Source, input.Length, input.InputFormat.Name, input.Compression.ToString().ToLowerInvariant(), null));
            try
            {
                if (!await ReplayAsync(input, ct).ConfigureAwait(false))
                {
                    return false;
                }
            }
            finally
            {
                // Known once the input has been read to its end (not after a stop or an error part-way).
                Opened[^1] = Opened[^1] with { Digest = input.Digest };
            }
        }
        return true;
    }
}
