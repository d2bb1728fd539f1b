using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Translation;

namespace MmuSim.Timing;

/// <summary>
/// The cycle model. It prices a translation after the fact from what the walker recorded (the walker never
/// prices anything): each walk-cache and IPA-cache lookup costs that structure's latency, each descriptor read
/// and hardware update goes through the walker's cache hierarchy and costs the latency of the level that served
/// it (memory latency when none did). TLB lookups are priced by the core from the levels it looked up.
/// </summary>
public sealed class TimingModel
{
    private readonly int[] _walkCacheLatency;
    private readonly int _ipaCacheLatency;

    public TimingModel(TimingConfig timing, CachingConfig caching)
    {
        Config = timing;
        Caches = new WalkerCacheHierarchy(timing);
        _walkCacheLatency = caching.WalkCaches.Select(w => w.Latency).ToArray();
        _ipaCacheLatency = caching.IpaCache?.Latency ?? 0;
        ServedByLevel = new long[Caches.Levels.Length];
        SavedByWalkCache = new long[_walkCacheLatency.Length];
    }

    public TimingConfig Config { get; }
    public WalkerCacheHierarchy Caches { get; }

    /// <summary>Descriptor reads (and updates) served by each walker-cache level.</summary>
    public long[] ServedByLevel { get; }

    /// <summary>Descriptor reads (and updates) served by memory.</summary>
    public long ServedByMemory { get; private set; }

    /// <summary>Descriptor reads of their own stage that each walk cache's hits made unnecessary.</summary>
    public long[] SavedByWalkCache { get; }

    /// <summary>Stage-2 descriptor reads the IPA cache's hits made unnecessary.</summary>
    public long SavedByIpaCache { get; private set; }

    /// <summary>Data accesses sent through the caches (with ModelDataCaches).</summary>
    public long DataAccesses { get; private set; }

    /// <summary>
    /// Prices a translation without looking at its steps when nothing could make two reads cost differently: no
    /// walker caches and no walk-cache or IPA-cache lookups, so every read and update is a memory round trip (the
    /// yardstick's model). Returns false, having done nothing, otherwise; <see cref="PriceWalk"/> then runs.
    /// </summary>
    public bool TryPriceUniform(WalkRecord record, out long cycles)
    {
        if (Caches.Levels.Length != 0 || record.CacheLookups != 0)
        {
            cycles = 0;
            return false;
        }
        int accesses = record.Reads + record.Updates;
        ServedByMemory += accesses;
        cycles = (long)accesses * Caches.MemoryLatency;
        return true;
    }

    /// <summary>
    /// Prices one translation: its steps in order (<see cref="PriceWalk(Span{WalkStep})"/>), and with no walker
    /// cache, the reads the record only counted, a memory round trip each.
    /// </summary>
    public long PriceWalk(WalkRecord record)
    {
        long total = PriceWalk(record.MutableSteps);
        if (record.ReadsUnrecorded)
        {
            if (Caches.Levels.Length != 0)
            {
                ThrowHelper.InvalidOperation("descriptor reads went unrecorded, but walker caches price each by its address");
            }
            ServedByMemory += record.Reads;
            total += (long)record.Reads * Caches.MemoryLatency;
        }
        return total;
    }

    /// <summary>Prices the steps of one translation in order, writing each step's cycles and serving level; returns the total.</summary>
    public long PriceWalk(Span<WalkStep> steps)
    {
        long total = 0;
        bool noCaches = Caches.Levels.Length == 0;
        int memoryLatency = Caches.MemoryLatency;
        for (int i = 0; i < steps.Length; i++)
        {
            ref var s = ref steps[i];
            int c;
            switch (s.Kind)
            {
                case StepKind.Read when s.NotRead:
                    c = 0;
                    s.ServedBy = -2;
                    break;
                case StepKind.Read when s.ExternalAbort:
                    // The bus answered with an abort: a full memory round trip, nothing allocated.
                    c = Caches.MemoryLatency;
                    s.ServedBy = -1;
                    ServedByMemory++;
                    break;
                case StepKind.Read or StepKind.Update when noCaches:
                    // No walker caches (the yardstick's model): every read is a memory round trip.
                    c = memoryLatency;
                    s.ServedBy = -1;
                    ServedByMemory++;
                    break;
                case StepKind.Read:
                case StepKind.Update:
                {
                    int served = Caches.Access(s.DescriptorPa);
                    s.ServedBy = (sbyte)served;
                    c = Caches.Latency(served);
                    if (served >= 0)
                    {
                        ServedByLevel[served]++;
                    }
                    else
                    {
                        ServedByMemory++;
                    }
                    break;
                }
                case StepKind.WalkCacheLookup:
                    c = _walkCacheLatency[s.Structure];
                    if (s.Hit)
                    {
                        SavedByWalkCache[s.Structure] += s.Saved;
                    }
                    break;
                default:
                    c = _ipaCacheLatency;
                    if (s.Hit)
                    {
                        SavedByIpaCache += s.Saved;
                    }
                    break;
            }
            s.Cycles = c;
            total += c;
        }
        return total;
    }

    /// <summary>A data access of <paramref name="size"/> bytes at <paramref name="pa"/>: every line it touches goes through the caches (no cycles are charged: the model prices translation only).</summary>
    public void DataAccess(ulong pa, int size)
    {
        var levels = Caches.Levels;
        if (levels.Length == 0)
        {
            return;
        }
        DataAccesses++;
        int line = levels[0].Config.LineBytes;
        ulong first = pa & ~(ulong)(line - 1);
        ulong last = (pa + (ulong)Math.Max(size, 1) - 1) & ~(ulong)(line - 1);
        for (ulong a = first; ; a += (ulong)line)
        {
            Caches.Access(a);
            if (a >= last)
            {
                break;
            }
        }
    }
}
