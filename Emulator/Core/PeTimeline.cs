using System.Numerics;
using MmuSim.Bits;
using MmuSim.Timing;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>Why a step of the timeline started later than the step before it ended (explain).</summary>
public enum TimelineWait : byte
{
    None,
    /// <summary>A walk-cache or IPA-cache entry filled by a walk that had not finished.</summary>
    PendingWalk,
    /// <summary>The descriptor's cache line was still on its way for another read.</summary>
    SharedLine,
    /// <summary>Every miss buffer of the nearest walker cache was in use.</summary>
    WalkerCacheMisses,
    /// <summary>The memory-request limit was reached.</summary>
    MemoryRequests,
}

/// <summary>When one recorded step of the last access's walk ran on the timeline (explain).</summary>
public struct TimedStep
{
    /// <summary>Index in <see cref="WalkRecord.Steps"/> of the walk it belongs to; −1 for a read the lean record only counted.</summary>
    public int Step;
    /// <summary>When the step could have started (the step before it ended), when it started, when it ended.</summary>
    public long Wanted;
    public long Start;
    public long End;
    public TimelineWait Wait;
    /// <summary>The trace line whose walk or read it waited on (<see cref="TimelineWait.PendingWalk"/>, <see cref="TimelineWait.SharedLine"/>).</summary>
    public long WaitedOnLine;
}

/// <summary>One translation (TLB hit or walk) of the last access on the timeline (an access crossing a page has two).</summary>
public struct TimedPart
{
    /// <summary>The part went to the walker.</summary>
    public bool Walked;
    /// <summary>Time its TLB lookups began and ended.</summary>
    public long LookupStart, LookupEnd;
    /// <summary>A hit on an entry whose walk had not finished: the line of that walk (0: none).</summary>
    public long MergedInto;
    /// <summary>A walk: when it entered the queue, started and ended, on which walker.</summary>
    public long Enqueued, Start, End;
    public int Walker;
    /// <summary>The part's steps in <see cref="PeTimeline.Steps"/>: first index and count.</summary>
    public int FirstStep, StepCount;
    /// <summary>When the part ended.</summary>
    public long Done;
}

/// <summary>
/// The timeline of one PE (<c>--timing timeline</c>): a timing overlay on the functional replay, which still decides
/// every hit, miss, walk and fault in trace order. Each access is issued in trace order (an issue interval, or the
/// trace's <c>inst</c> lines, apart), at most <see cref="TimelineConfig.Window"/> at once with in-order retirement;
/// its TLB lookups take their latencies; a miss waits in a queue for one of the PE's walkers; a walk runs its
/// recorded steps as a dependent chain (lookups, descriptor reads through the walker caches and memory, with their
/// limits; the reads of a nested walk's stage-2 walks in their place); a hit on an entry whose walk has not finished
/// completes when that walk does (a merged miss). With one walker, a window of one and no limits, every access
/// completes exactly its additive cycles after its issue. Nothing here changes a result; nothing allocates per access.
/// </summary>
public sealed class PeTimeline
{
    private readonly TimelineConfig _config;
    private readonly int _memoryLatency;
    private readonly int _lineShift;
    private readonly bool _walkerCaches;

    // The window: the retirement time of each of the last Window accesses (ring by access number).
    private readonly long[] _retired;
    private int _retiredNext;
    private long _accesses;
    private long _lastRetire;

    // Front end.
    private long _nextIssue;
    private long _pendingInstructions;
    private long _blockedUntil;

    // The current access.
    private long _t;
    private long _issue;

    // Walkers and the queue: each walker's free time, the start time of the last walks (ring, for the queue limit).
    private readonly long[] _walkerFree;
    private readonly long[] _walkStarts;
    private long _walks;
    private long _lastWalkStart;

    // Walks that may not have finished: (line, end), in trace order, for merging.
    private readonly long[] _pendingLine;
    private readonly long[] _pendingEnd;
    private long _pendingCount;
    private readonly int _pendingMask;
    private long _maxWalkEnd;

    // Descriptor cache lines on their way (line address, arrival, trace line), a small ring.
    private const int LineSlots = 64;
    private readonly ulong[] _fillLine = new ulong[LineSlots];
    private readonly long[] _fillEnd = new long[LineSlots];
    private readonly long[] _fillTraceLine = new long[LineSlots];
    private int _fillNext;

    private readonly Calendar? _missBuffers;
    private readonly Calendar? _memory;

    // Walks in service over time: the end times of the walks in service at the sweep's clock.
    private readonly long[] _active;
    private int _activeCount;
    private long _sweepClock;
    private readonly long[] _inFlightTime;

    private long _line;

    public PeTimeline(TimingConfig timing)
    {
        _config = timing.TimelineOrSerial;
        _memoryLatency = timing.MemoryLatency;
        _walkerCaches = timing.WalkerCaches.Count != 0;
        _lineShift = _walkerCaches ? BitOperations.Log2((uint)timing.WalkerCaches[0].LineBytes) : 6;
        _retired = new long[_config.Window];
        _walkerFree = new long[_config.Walkers];
        _walkStarts = new long[Math.Max(_config.WalkQueue ?? 0, 0) + 1];
        // A power of two, so the ring's logical indices map to slots with a mask.
        int pending = (int)BitOperations.RoundUpToPowerOf2((uint)(2 * _config.Window + 2 * _config.Walkers + (_config.WalkQueue ?? 0) + 4));
        _pendingLine = new long[pending];
        _pendingEnd = new long[pending];
        _pendingMask = pending - 1;
        if (_walkerCaches && _config.WalkerCacheMisses is int m)
        {
            _missBuffers = new Calendar(m);
        }
        if (_config.MemoryRequests is int r)
        {
            _memory = new Calendar(r);
        }
        _active = new long[_config.Walkers];
        _inFlightTime = new long[_config.Walkers + 1];
    }

    public TimelineConfig Config => _config;

    /// <summary>Record per-step times of each access (for explain): <see cref="Parts"/> and <see cref="Steps"/>.</summary>
    public bool Detailed { get; set; }

    // ---- Counters (docs/translation-cost.md, "The timeline": the summary) ----

    /// <summary>Accesses timed.</summary>
    public long Accesses => _accesses;

    /// <summary>The PE's total: the last retirement, or the front end's clock when later (trailing <c>inst</c> lines).</summary>
    public long TotalCycles => Math.Max(_lastRetire, _nextIssue + _pendingInstructions / _config.IssueWidth);

    /// <summary>Cycles the PE could not issue because the window was full (the oldest access was still translating).</summary>
    public long WindowStallCycles { get; private set; }

    /// <summary>Cycles the PE could not issue because a miss found every walker busy and the queue full.</summary>
    public long QueueStallCycles { get; private set; }

    /// <summary>Stalled on translation: window and queue stalls.</summary>
    public long StallCycles => WindowStallCycles + QueueStallCycles;

    /// <summary>Walks timed.</summary>
    public long Walks => _walks;

    /// <summary>Cycles each walk waited for a walker (queue and full-queue wait, from the end of its lookups).</summary>
    public CycleHistogram WaitCycles { get; } = new();

    /// <summary>Cycles each walk took from its start on a walker to its end.</summary>
    public CycleHistogram ServiceCycles { get; } = new();

    /// <summary>TLB hits on an entry whose walk had not finished: they completed when it did.</summary>
    public long MergedMisses { get; private set; }

    /// <summary>Descriptor reads that waited for a cache line another read had on its way.</summary>
    public long SharedLineWaits { get; private set; }

    /// <summary>Descriptor reads delayed by the walker cache's miss buffers, and by the memory-request limit.</summary>
    public long MissBufferWaits { get; private set; }
    public long MemoryWaits { get; private set; }

    /// <summary>Sum over descriptor reads (and updates) of the cycles each was in flight.</summary>
    public long ReadCycles { get; private set; }

    /// <summary>Descriptor reads timed.</summary>
    public long TimedReads { get; private set; }

    /// <summary>
    /// Cycles with exactly k walks in service, k = 0..walkers, over [0, <see cref="TotalCycles"/>). Computed on demand.
    /// </summary>
    public long[] WalksInFlight()
    {
        var hist = (long[])_inFlightTime.Clone();
        var ends = _active.AsSpan(0, _activeCount).ToArray();
        System.Array.Sort(ends);
        long clock = _sweepClock;
        int n = ends.Length;
        foreach (long e in ends)
        {
            hist[n] += e - clock;
            clock = e;
            n--;
        }
        long total = TotalCycles;
        if (total > clock)
        {
            hist[0] += total - clock;
        }
        return hist;
    }

    /// <summary>Time-weighted mean number of walks in service.</summary>
    public double MeanWalksInFlight => TotalCycles == 0 ? 0 : (double)ServiceCycles.Sum / TotalCycles;

    /// <summary>Time-weighted mean number of walks waiting for a walker (Little's law: total wait over total time).</summary>
    public double MeanQueue => TotalCycles == 0 ? 0 : (double)WaitCycles.Sum / TotalCycles;

    /// <summary>Walker occupancy: the mean walks in service over the walkers.</summary>
    public double WalkerOccupancy => MeanWalksInFlight / _config.Walkers;

    /// <summary>
    /// Memory-level parallelism of descriptor reads: the mean number of reads in flight while at least one walk is
    /// in service (read cycles over walker-busy cycles).
    /// </summary>
    public double DescriptorMlp
    {
        get
        {
            var h = WalksInFlight();
            long busy = 0;
            for (int k = 1; k < h.Length; k++)
            {
                busy += h[k];
            }
            return busy == 0 ? 0 : (double)ReadCycles / busy;
        }
    }

    // ---- The last access (explain) ----

    /// <summary>Issue and completion of the last access, and the stall before its issue.</summary>
    public long LastIssue => _issue;
    public long LastComplete { get; private set; }
    public long LastRetire { get; private set; }
    public long LastDesiredIssue { get; private set; }

    private TimedPart[] _parts = new TimedPart[2];
    private int _partCount;
    private TimedStep[] _steps = new TimedStep[64];
    private int _stepCount;

    public ReadOnlySpan<TimedPart> Parts => _parts.AsSpan(0, _partCount);
    public ReadOnlySpan<TimedStep> Steps => _steps.AsSpan(0, _stepCount);

    // ---- Events ----

    /// <summary><c>inst N</c>: N instructions that access no memory run before the next access.</summary>
    public void AddInstructions(ulong n) => _pendingInstructions = (long)Math.Min((ulong)_pendingInstructions + n, long.MaxValue / 2);

    /// <summary>An access of trace line <paramref name="line"/> issues: after the front end's interval, when the window has room.</summary>
    public void BeginAccess(long line)
    {
        _line = line;
        long desired = _nextIssue;
        if (_pendingInstructions != 0)
        {
            // Whole cycles of instructions delay this issue; a remainder (fewer than the issue width) carries over.
            desired += _pendingInstructions / _config.IssueWidth;
            _pendingInstructions %= _config.IssueWidth;
        }
        long issue = desired;
        if (_accesses >= _retired.Length)
        {
            // In-order retirement: the access Window places back must have retired (its slot is the next one).
            long oldest = _retired[_retiredNext];
            if (oldest > issue)
            {
                WindowStallCycles += oldest - issue;
                issue = oldest;
            }
        }
        if (_blockedUntil > issue)
        {
            QueueStallCycles += _blockedUntil - issue;
            issue = _blockedUntil;
        }
        LastDesiredIssue = desired;
        _issue = issue;
        _t = issue;
        _partCount = 0;
        _stepCount = 0;
    }

    /// <summary><see cref="BeginAccess"/> when <paramref name="timed"/>.</summary>
    public void BeginAccessIf(bool timed, long line)
    {
        if (timed)
        {
            BeginAccess(line);
        }
    }

    /// <summary>The access completed at the cursor: retire it in order. Returns its completion time.</summary>
    public long EndAccess()
    {
        long complete = _t;
        long retire = Math.Max(complete, _lastRetire);
        _retired[_retiredNext] = retire;
        if (++_retiredNext == _retired.Length)
        {
            _retiredNext = 0;
        }
        _accesses++;
        _lastRetire = retire;
        _nextIssue = _issue + _config.IssueInterval;
        LastComplete = complete;
        LastRetire = retire;
        return complete;
    }

    private ref TimedPart NewPart()
    {
        if (_partCount == _parts.Length)
        {
            System.Array.Resize(ref _parts, _parts.Length * 2);
        }
        ref var p = ref _parts[_partCount++];
        p = default;
        return ref p;
    }

    /// <summary>
    /// A whole access that a predicted first-level hit translated (the PE's run loop): <see cref="BeginAccess"/>,
    /// <see cref="OnHit"/> and <see cref="EndAccess"/> in one.
    /// </summary>
    public void Hit(long line, int latency, long fillLine)
    {
        BeginAccess(line);
        OnHit(latency, fillLine);
        EndAccess();
    }

    /// <summary>A TLB hit whose lookups cost <paramref name="lookupCycles"/>, on an entry filled by the walk of line <paramref name="fillLine"/>.</summary>
    public void OnHit(long lookupCycles, long fillLine)
    {
        long start = _t;
        _t += lookupCycles;
        long merged = 0;
        if (_maxWalkEnd > _t && PendingWalkEnd(fillLine) is long end && end > _t)
        {
            // The entry exists functionally, but the walk that makes it has not finished: wait for it.
            _t = end;
            MergedMisses++;
            merged = fillLine;
        }
        if (Detailed)
        {
            ref var p = ref NewPart();
            p.LookupStart = start;
            p.LookupEnd = start + lookupCycles;
            p.MergedInto = merged;
            p.Done = _t;
        }
    }

    /// <summary>The end of the walk of trace line <paramref name="line"/> while it may still be in flight, or null.</summary>
    private long? PendingWalkEnd(long line)
    {
        // The ring holds walks in trace order (lines ascending): binary search over the live part.
        int cap = _pendingLine.Length, mask = _pendingMask;
        long first = Math.Max(0, _pendingCount - cap);
        long lo = first, hi = _pendingCount - 1;
        long? found = null;
        while (lo <= hi)
        {
            long mid = (lo + hi) >> 1;
            long l = _pendingLine[(int)(mid & mask)];
            if (l < line)
            {
                lo = mid + 1;
            }
            else if (l > line)
            {
                hi = mid - 1;
            }
            else
            {
                // A page-crossing access walks twice on one line: take the later end of the two.
                long end = _pendingEnd[(int)(mid & mask)];
                if (mid + 1 < _pendingCount && _pendingLine[(int)((mid + 1) & mask)] == line)
                {
                    end = Math.Max(end, _pendingEnd[(int)((mid + 1) & mask)]);
                }
                if (mid - 1 >= first && _pendingLine[(int)((mid - 1) & mask)] == line)
                {
                    end = Math.Max(end, _pendingEnd[(int)((mid - 1) & mask)]);
                }
                found = end;
                break;
            }
        }
        return found;
    }

    /// <summary>
    /// A walk after TLB lookups of <paramref name="lookupCycles"/>: it waits for a walker (entering the queue, or
    /// stopping the PE's issue while the queue is full), then runs the steps of <paramref name="record"/>, priced by
    /// the cycle model, as a dependent chain.
    /// </summary>
    public void OnWalk(long lookupCycles, WalkRecord record)
    {
        long lookupStart = _t;
        long request = _t + lookupCycles;
        long n = _walks;
        int q = _walkStarts.Length - 1;

        // The walker that frees first; walks start in the order they were requested (FIFO).
        int k = 0;
        for (int i = 1; i < _walkerFree.Length; i++)
        {
            if (_walkerFree[i] < _walkerFree[k])
            {
                k = i;
            }
        }
        long start = Math.Max(Math.Max(request, _lastWalkStart), _walkerFree[k]);
        long enqueued = request;
        if (_config.WalkQueue is not null && start > request)
        {
            // Fewer than Q walks may wait: the walk Q places back must have started (Q = 0: a walker must be free).
            long gate = q == 0 ? start : n >= q ? _walkStarts[(int)((n - q) % _walkStarts.Length)] : 0;
            if (gate > request)
            {
                enqueued = gate;
                _blockedUntil = Math.Max(_blockedUntil, gate);
            }
        }
        _walkStarts[(int)(n % _walkStarts.Length)] = start;
        _lastWalkStart = start;
        _walks = n + 1;
        SweepTo(start);

        int firstStep = _stepCount;
        long end = RunSteps(record, start);

        _walkerFree[k] = end;
        _active[_activeCount++] = end;
        WaitCycles.Add(start - request);
        ServiceCycles.Add(end - start);
        if (end > _maxWalkEnd)
        {
            _maxWalkEnd = end;
        }
        _pendingLine[(int)(_pendingCount & _pendingMask)] = _line;
        _pendingEnd[(int)(_pendingCount & _pendingMask)] = end;
        _pendingCount++;
        _missBuffers?.Prune(start);
        _memory?.Prune(start);
        _t = end;
        if (Detailed)
        {
            ref var p = ref NewPart();
            p.Walked = true;
            p.LookupStart = lookupStart;
            p.LookupEnd = request;
            p.Enqueued = enqueued;
            p.Start = start;
            p.End = end;
            p.Walker = k;
            p.FirstStep = firstStep;
            p.StepCount = _stepCount - firstStep;
            p.Done = end;
        }
    }

    /// <summary>Advances the in-flight sweep to <paramref name="time"/> (walk starts come in ascending order).</summary>
    private void SweepTo(long time)
    {
        while (true)
        {
            // The earliest end among the walks in service, if it comes before the new start.
            int m = -1;
            for (int i = 0; i < _activeCount; i++)
            {
                if (_active[i] <= time && (m < 0 || _active[i] < _active[m]))
                {
                    m = i;
                }
            }
            if (m < 0)
            {
                break;
            }
            long e = _active[m];
            if (e > _sweepClock)
            {
                _inFlightTime[_activeCount] += e - _sweepClock;
                _sweepClock = e;
            }
            _active[m] = _active[--_activeCount];
        }
        if (time > _sweepClock)
        {
            _inFlightTime[_activeCount] += time - _sweepClock;
            _sweepClock = time;
        }
    }

    private long RunSteps(WalkRecord record, long x)
    {
        var steps = record.Steps;
        for (int i = 0; i < steps.Length; i++)
        {
            ref readonly var s = ref steps[i];
            long begin = x, started = x;
            var wait = TimelineWait.None;
            long waitedOn = 0;
            switch (s.Kind)
            {
                case StepKind.WalkCacheLookup or StepKind.IpaCacheLookup:
                    x += s.Cycles;
                    if (s.Hit && _maxWalkEnd > x && s.FillLine != _line && PendingWalkEnd(s.FillLine) is long we && we > x)
                    {
                        // The entry came from a walk still in flight: its information is there when that walk ends.
                        x = we;
                        wait = TimelineWait.PendingWalk;
                        waitedOn = s.FillLine;
                    }
                    break;
                case StepKind.Read when s.NotRead:
                    break;
                default:
                    x = Read(x, s.DescriptorPa, s.ServedBy, s.Cycles, ref wait, ref waitedOn, out started);
                    break;
            }
            if (Detailed)
            {
                AddTimedStep(i, begin, started, x, wait, waitedOn);
            }
        }
        if (record.ReadsUnrecorded && _memory is null && !Detailed)
        {
            // Only counted, all from memory, nothing limits them: one chain of memory round trips.
            long cycles = (long)record.Reads * _memoryLatency;
            ReadCycles += cycles;
            TimedReads += record.Reads;
            x += cycles;
        }
        else if (record.ReadsUnrecorded)
        {
            // A lean record without walker caches only counted its reads: each is a memory round trip.
            for (int i = 0; i < record.Reads; i++)
            {
                long begin = x;
                var wait = TimelineWait.None;
                long waitedOn = 0;
                x = Read(x, ulong.MaxValue, -1, _memoryLatency, ref wait, ref waitedOn, out long started);
                if (Detailed)
                {
                    AddTimedStep(-1, begin, started, x, wait, waitedOn);
                }
            }
        }
        return x;
    }

    private void AddTimedStep(int step, long wanted, long start, long end, TimelineWait wait, long waitedOn)
    {
        if (_stepCount == _steps.Length)
        {
            System.Array.Resize(ref _steps, _steps.Length * 2);
        }
        _steps[_stepCount++] = new TimedStep { Step = step, Wanted = wanted, Start = start, End = end, Wait = wait, WaitedOnLine = waitedOn };
    }

    /// <summary>
    /// One descriptor read (or hardware update) wanted at <paramref name="x"/>, served by walker-cache level
    /// <paramref name="servedBy"/> (−1 memory) in <paramref name="latency"/> cycles. Returns when it ends.
    /// </summary>
    private long Read(long x, ulong pa, int servedBy, int latency, ref TimelineWait wait, ref long waitedOn, out long started)
    {
        long end;
        started = x;
        ulong line = pa >> _lineShift;
        int slot = _walkerCaches && _maxFill > x ? FindFill(line, x) : -1;
        if (slot >= 0)
        {
            // Another read brings this line: this one is served when the line arrives (no second miss).
            end = Math.Max(x + latency, _fillEnd[slot]);
            if (end > x + latency)
            {
                SharedLineWaits++;
                wait = TimelineWait.SharedLine;
                waitedOn = _fillTraceLine[slot];
            }
        }
        else if (servedBy != 0 || !_walkerCaches)
        {
            long s = x;
            var buffers = _walkerCaches ? _missBuffers : null;
            var memory = servedBy < 0 ? _memory : null;
            if (buffers is not null || memory is not null)
            {
                while (true)
                {
                    long a = buffers?.Earliest(s, latency) ?? s;
                    long b = memory?.Earliest(a, latency) ?? a;
                    if (b == a)
                    {
                        s = a;
                        break;
                    }
                    s = b;
                }
                if (s > x)
                {
                    bool byMemory = memory is not null && (buffers is null || buffers.Earliest(x, latency) == x);
                    wait = byMemory ? TimelineWait.MemoryRequests : TimelineWait.WalkerCacheMisses;
                    if (byMemory)
                    {
                        MemoryWaits++;
                    }
                    else
                    {
                        MissBufferWaits++;
                    }
                }
                started = s;
                buffers?.Add(s, s + latency);
                memory?.Add(s, s + latency);
            }
            end = s + latency;
            if (_walkerCaches)
            {
                _fillLine[_fillNext] = line;
                _fillEnd[_fillNext] = end;
                _fillTraceLine[_fillNext] = _line;
                _fillNext = (_fillNext + 1) % LineSlots;
                if (end > _maxFill)
                {
                    _maxFill = end;
                }
            }
        }
        else
        {
            end = x + latency;
        }
        ReadCycles += end - x;
        TimedReads++;
        return end;
    }

    private long _maxFill;

    private int FindFill(ulong line, long x)
    {
        int best = -1;
        for (int i = 0; i < LineSlots; i++)
        {
            if (_fillLine[i] == line && _fillEnd[i] > x && (best < 0 || _fillEnd[i] > _fillEnd[best]))
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>
    /// A resource of <c>limit</c> units, each held for an interval: finds the earliest start at or after a time at
    /// which fewer than <c>limit</c> intervals cover every point of [start, start + length). Reservations come out of
    /// trace order (a later walk may read before an earlier one), so it keeps the intervals that may still matter.
    /// </summary>
    private sealed class Calendar(int limit)
    {
        private long[] _start = new long[16];
        private long[] _end = new long[16];
        private int _count;

        public void Add(long start, long end)
        {
            if (_count == _start.Length)
            {
                System.Array.Resize(ref _start, _count * 2);
                System.Array.Resize(ref _end, _count * 2);
            }
            _start[_count] = start;
            _end[_count] = end;
            _count++;
        }

        /// <summary>Forgets intervals that end by <paramref name="time"/>: every later request starts after it.</summary>
        public void Prune(long time)
        {
            int j = 0;
            for (int i = 0; i < _count; i++)
            {
                if (_end[i] > time)
                {
                    _start[j] = _start[i];
                    _end[j] = _end[i];
                    j++;
                }
            }
            _count = j;
        }

        public long Earliest(long s, int length)
        {
            if (limit <= 0)
            {
                return s; // a limit of 0 would never admit anything: the configuration reader refuses it
            }
            while (true)
            {
                // The most intervals covering one point of [s, s + length): the coverage only rises at a start.
                long e = s + length;
                int worst = 0;
                long firstEndAfter = long.MaxValue;
                for (int i = 0; i < _count; i++)
                {
                    long p = _start[i];
                    if (_end[i] <= s || p >= e)
                    {
                        continue;
                    }
                    long at = Math.Max(p, s);
                    int cover = 0;
                    for (int j = 0; j < _count; j++)
                    {
                        if (_start[j] <= at && _end[j] > at)
                        {
                            cover++;
                        }
                    }
                    worst = Math.Max(worst, cover);
                    firstEndAfter = Math.Min(firstEndAfter, _end[i]);
                }
                if (worst < limit || length == 0)
                {
                    return s;
                }
                s = firstEndAfter;
            }
        }
    }
}
