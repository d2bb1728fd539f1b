using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Timing;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Core;

/// <summary>
/// For a trace that performs correct TLB maintenance, every caching configuration gives the results of no caching
/// at all: PAs, faults and their syndromes, PARs and descriptor contents after hardware updates. Checked on the
/// QEMU corpus and on random traces with HA/HD, DBM, contiguous groups, blocks, ASID and VMID switches, and table
/// and stage-2 changes followed by the TLBIs the architecture requires.
/// </summary>
public class CachingEquivalenceTests
{
    /// <summary>
    /// Small, randomly shaped hierarchies: tiny structures so that evictions happen all the time. Each structure's
    /// policy is drawn from the registry (<see cref="ReplacementPolicies.All"/>), or is <paramref name="only"/>.
    /// </summary>
    public static ModelConfig RandomConfig(int seed, ReplacementPolicy? only = null)
    {
        var r = new Random(seed);
        ReplacementPolicy P()
        {
            var drawn = ReplacementPolicies.All[r.Next(ReplacementPolicies.All.Count)].Policy;
            return only ?? drawn;
        }
        (int Entries, int Ways) G(int max)
        {
            int ways = r.Next(1, 6);
            return (ways * r.Next(1, Math.Max(2, max / ways)), ways);
        }
        var tlbs = new List<TlbConfig>();
        if (r.Next(2) == 0)
        {
            var (e1, w1) = G(8);
            var (e2, w2) = G(8);
            tlbs.Add(new TlbConfig("I", TlbServes.Instruction, e1, w1, 1, P(), (ulong)seed));
            tlbs.Add(new TlbConfig("D", TlbServes.Data, e2, w2, 1, P(), (ulong)seed + 1));
        }
        else
        {
            var (e, w) = G(6);
            tlbs.Add(new TlbConfig("U1", TlbServes.Unified, e, w, 1, P(), (ulong)seed));
        }
        if (r.Next(3) != 0)
        {
            var (e, w) = G(24);
            tlbs.Add(new TlbConfig("U2", TlbServes.Unified, e, w, 3, P(), (ulong)seed + 2));
        }
        var walk = new List<WalkCacheConfig>();
        for (int stage = 1; stage <= 2; stage++)
        {
            if (r.Next(3) != 0)
            {
                var levels = new[] { -1, 0, 1, 2 }.Where(_ => r.Next(2) == 0).DefaultIfEmpty(2).ToArray();
                var (e, w) = G(12);
                walk.Add(new WalkCacheConfig($"W{stage}", stage, levels, e, w, 2, P(), (ulong)seed + 3));
            }
        }
        IpaCacheConfig? ipa = null;
        if (r.Next(3) != 0)
        {
            var (e, w) = G(10);
            ipa = new IpaCacheConfig("IPA", e, w, 2, P(), (ulong)seed + 4);
        }
        var walker = r.Next(2) == 0 ? new List<WalkerCacheConfig>() : [new WalkerCacheConfig("C1", 1024, 2, 64, 4, P())];
        return new ModelConfig(only is { } o ? $"random-{seed}-{ReplacementPolicies.NameOf(o)}" : $"random-{seed}", new CachingConfig(tlbs, walk, ipa, r.Next(2) == 0), new TimingConfig(walker, 100, r.Next(2) == 0));
    }

    private static IEnumerable<ModelConfig> Configs()
    {
        yield return Presets.NeoverseN1;
        yield return Presets.CortexA55;
        yield return Presets.CortexA53;
        yield return Presets.Bench;
        for (int i = 1; i <= 4; i++)
        {
            yield return RandomConfig(i);
        }
    }

    private static List<AccessOutcome> Replay(IReadOnlyList<TraceRecord> records, ModelConfig config, bool checkStale = false)
    {
        var core = new SimulatedCore(config: config) { CheckStale = checkStale };
        var list = new List<AccessOutcome>();
        foreach (var rec in records)
        {
            if (core.Execute(in rec, out var o))
            {
                list.Add(o);
            }
        }
        if (checkStale)
        {
            Assert.True(core.Stale!.Count == 0, $"{config.Name}: {core.Stale.Reports.FirstOrDefault()}");
        }
        return list;
    }

    public static TheoryData<string> CorpusTraces() => Corpus.QemuCorpusTests.Traces();

    [Theory]
    [MemberData(nameof(CorpusTraces))]
    public async Task CorpusGivesTheSameResultsUnderEveryConfiguration(string name)
    {
        string path = Path.Combine(TestPaths.Qemu, name + ".trace");
        var (_, reference) = await Machine.ReplayFile(path, Presets.Uncached);
        foreach (var config in Configs())
        {
            var (core, actual) = await Machine.ReplayFile(path, config, checkStale: config == Presets.NeoverseN1);
            OutcomeComparer.AssertSame(reference, actual, $"{name} with {config.Name}");
            if (core.Stale is { } stale)
            {
                Assert.True(stale.Count == 0, $"{name}: the corpus performs correct maintenance, yet: {stale.Reports.FirstOrDefault()}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(CorpusTraces))]
    public async Task LeanStepRecordingChangesNoResultAndNoFigure(string name)
    {
        // The CLI replays with WalkRecord.Detailed off: the cycle model, statistics, hardware-update retirement and
        // stale checks must see everything they need in the lean steps.
        string path = Path.Combine(TestPaths.Qemu, name + ".trace");
        foreach (var config in new[] { Presets.NeoverseN1, Presets.Bench, RandomConfig(3) })
        {
            var (full, expected) = await Machine.ReplayFile(path, config, checkStale: true);
            var (lean, actual) = await Machine.ReplayFile(path, config, checkStale: true, detailedRecord: false);
            OutcomeComparer.AssertSame(expected, actual, $"{name} with {config.Name}");
            Assert.Equal(expected.Select(o => o.Cycles), actual.Select(o => o.Cycles));
            Assert.Equal(SummaryText(full), SummaryText(lean));
        }
    }

    [Theory]
    [MemberData(nameof(CorpusTraces))]
    public async Task AReplayWithoutResultsCountsAndChargesExactlyTheSame(string name)
    {
        // Without a results sink the replayer lets the core skip building outcomes; every figure must stay the same.
        string path = Path.Combine(TestPaths.Qemu, name + ".trace");
        foreach (var config in new[] { Presets.NeoverseN1, Presets.Bench })
        {
            var (withResults, _) = await Machine.ReplayFile(path, config);
            var without = new SimulatedCore(config: config);
            await using (var s = File.OpenRead(path))
            {
                await new Replayer(without, sink: null).ReplayAsync(s, path);
            }
            Assert.Equal(SummaryText(withResults), SummaryText(without));
        }
    }

    /// <summary>
    /// A replay without results runs the parsers' access runs through <see cref="SimulatedCore.ExecuteAccessRun"/>,
    /// whose predicted hits are counted in locals and committed before anything else runs. On random traces (EL and
    /// ASID switches, table changes with their TLBIs, accesses of every size, page crossings, faults) under
    /// hierarchies with a unified first level and every replacement policy, every figure must be that of replaying
    /// access by access with results; text and binary traces, read directly from the file and through the pipe.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds), 6)]
    public async Task AccessRunsCountAndChargeExactlyAsSingleAccesses(int seed)
    {
        var r = new Random(seed);
        // The random trace, with sizes of 1..64 bytes (some cross into the next page) and bursts of accesses to the
        // data and code pages last accessed, as real traces have: runs of predicted hits of all three types, on two
        // entries at once (of one TLB when the first level is unified).
        // Now and then the burst runs at EL2 (stage 1 off there: the same VA, another regime), then returns.
        var records = new List<TraceRecord>();
        ulong el = 1, codePage = 0x1000_0000, dataPage = 0x1000_0000;
        foreach (var rec in RandomTrace.Generate(seed, events: 2000))
        {
            records.Add(Resized(rec));
            if (rec.Op == TraceOp.El)
            {
                el = rec.Value;
            }
            if (rec.Op == TraceOp.Fetch)
            {
                codePage = rec.Address & ~0xFFFUL;
            }
            else if (rec.Op is TraceOp.Read or TraceOp.Write)
            {
                dataPage = rec.Address & ~0xFFFUL;
            }
            if (rec.Op is TraceOp.Read or TraceOp.Write or TraceOp.Fetch && r.Next(2) == 0)
            {
                bool atEl2 = r.Next(8) == 0;
                if (atEl2)
                {
                    records.Add(new TraceRecord { Op = TraceOp.El, Value = 2 });
                }
                for (int k = r.Next(1, 12); k > 0; k--)
                {
                    var op = (TraceOp)((int)TraceOp.Read + r.Next(3));
                    ulong va = op == TraceOp.Fetch ? codePage | (uint)(r.Next(1024) * 4) : dataPage | (uint)r.Next(4096 - 8);
                    records.Add(Resized(new TraceRecord { Op = op, Address = va, Size = (byte)(op == TraceOp.Fetch ? 4 : 8) }));
                }
                if (atEl2)
                {
                    records.Add(new TraceRecord { Op = TraceOp.El, Value = el });
                }
            }
        }
        TraceRecord Resized(TraceRecord rec)
        {
            if ((rec.Op == TraceOp.Read || rec.Op == TraceOp.Write) && r.Next(4) == 0)
            {
                rec.Size = (byte)r.Next(1, 65);
            }
            return rec;
        }
        string text = Path.Combine(Path.GetTempPath(), $"mmusim-runs-{Environment.ProcessId}-{seed}.trace");
        string binary = Path.ChangeExtension(text, ".mbt");
        try
        {
            using (var w = new TextTraceWriter(File.Create(text)))
            {
                foreach (var rec in records)
                {
                    w.OnRecord(in rec);
                }
            }
            // The binary format gives fetches a size field: whatever it says, a fetch is one 4-byte instruction.
            using (var w = new BinaryTraceWriter(File.Create(binary)))
            {
                foreach (var rec in records)
                {
                    var b = rec;
                    if (b.Op == TraceOp.Fetch && r.Next(3) == 0)
                    {
                        b.Size = (byte)r.Next(1, 65);
                    }
                    w.OnRecord(in b);
                }
            }
            var configs = new[] { Presets.NeoverseN1, Presets.Bench, Presets.CortexA55, RandomConfig(seed), RandomConfig(20 + seed), RandomConfig(40 + seed) };
            Assert.Contains(configs, c => c.Caching.Tlbs.Count > 0 && c.Caching.Tlbs[0].Serves == TlbServes.Unified);
            foreach (var (config, path) in configs.SelectMany(c => new[] { (c, text), (c, binary) }))
            {
                var (withResults, outcomes) = await Machine.ReplayFile(path, config);
                Assert.Contains(outcomes, o => o.IsFault);
                var direct = new SimulatedCore(config: config);
                await new Replayer(direct, sink: null).ReplayFilesAsync([path]);
                var piped = new SimulatedCore(config: config);
                await using (var s = File.OpenRead(path))
                {
                    await new Replayer(piped, sink: null, new ReplayOptions { DirectFileReads = false, BufferSize = 4096 }).ReplayAsync(s, path);
                }
                var st = withResults.Stats;
                Assert.True(st.TlbHits > (st.Reads + st.Writes + st.Fetches) / 4, $"{config.Name}: {st.TlbHits} hits");
                Assert.Equal(SummaryText(withResults), SummaryText(direct));
                Assert.Equal(SummaryText(withResults), SummaryText(piped));
            }
        }
        finally
        {
            File.Delete(text);
            File.Delete(binary);
        }
    }

    /// <summary>A run is memory-safe whatever it holds: an operation other than an access takes the general path.</summary>
    [Fact]
    public void ARunHoldingAnotherOperationExecutesItThroughTheGeneralPath()
    {
        var core = new SimulatedCore(config: Presets.Bench);
        long line = 0;
        PlainAccess[] run =
        [
            new() { Op = TraceOp.Read, Va = 0x1000, Size = 8 },
            new() { Op = TraceOp.Read, Va = 0x1008, Size = 8 },
            new() { Op = TraceOp.Dump, Va = 0x2000 },
            new() { Op = TraceOp.Read, Va = 0x1010, Size = 8 },
        ];
        core.ExecuteRun(run, 10, ref line);
        Assert.Equal((3L, 1L, 13L), (core.Stats.Reads, core.Stats.Dumps, line));
        Assert.Equal(4, core.Stats.Records);
    }

    /// <summary>
    /// With lean recording (as the CLI replays), reads are only counted where no walker cache prices them, and the
    /// walker's memos replay repeated walks: the stage-2 walks of stage-1 table addresses (no stage-2 walk cache)
    /// and the upper part of stage-1 walks (no stage-1 walk cache or IPA cache). Every result, every access's
    /// cycles and every figure must be those of walking each time (the detailed recording never uses the memos):
    /// random traces rewrite stage-1 and stage-2 tables (and HA/HD rewrite leaves next to the tables' own) between
    /// walks that repeat.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds), 8)]
    public void LeanRecordingWithoutStage2WalkCachesChangesNothing(int seed)
    {
        var records = RandomTrace.Generate(seed, events: 600);
        var configs = new[] { Presets.Bench, Presets.Uncached, WithoutStage2WalkCaches(RandomConfig(200 + seed)) };
        foreach (var config in configs)
        {
            var full = new SimulatedCore(config: config);
            var lean = new SimulatedCore(config: config);
            lean.Mmu.Record.Detailed = false;
            var expected = new List<AccessOutcome>();
            var actual = new List<AccessOutcome>();
            foreach (var rec in records)
            {
                if (full.Execute(in rec, out var o))
                {
                    expected.Add(o);
                }
                if (lean.Execute(in rec, out o))
                {
                    actual.Add(o);
                }
            }
            OutcomeComparer.AssertSame(expected, actual, $"seed {seed} with {config.Name}");
            Assert.Equal(expected.Select(o => o.Cycles), actual.Select(o => o.Cycles));
            Assert.Equal(SummaryText(full), SummaryText(lean));
        }
    }

    /// <summary>Random-trace seeds 1..<paramref name="count"/>.</summary>
    public static TheoryData<int> Seeds(int count) => new(Enumerable.Range(1, count));

    private static ModelConfig WithoutStage2WalkCaches(ModelConfig c) =>
        c with { Caching = c.Caching with { WalkCaches = c.Caching.WalkCaches.Where(w => w.Stage == 1).ToList() } };

    private static string SummaryText(SimulatedCore core)
    {
        var ms = new MemoryStream();
        MmuSim.Reporting.SummaryJson.Write(ms, core, stoppedOnFault: false);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    [Theory]
    [MemberData(nameof(Seeds), 16)]
    public void RandomTracesGiveTheSameResultsUnderEveryConfiguration(int seed)
    {
        var records = RandomTrace.Generate(seed, events: 600);
        var reference = Replay(records, Presets.Uncached);
        Assert.Contains(reference, o => o.Op == ResultOp.Read && !o.IsFault);
        foreach (var config in Configs().Append(RandomConfig(100 + seed)))
        {
            OutcomeComparer.AssertSame(reference, Replay(records, config, checkStale: true), $"seed {seed} with {config.Name}");
        }
    }

    /// <summary>Every policy of the registry, each with trace seeds 1..3: a policy added to the registry is tested here.</summary>
    public static TheoryData<string, int> PoliciesAndSeeds()
    {
        var data = new TheoryData<string, int>();
        foreach (var p in ReplacementPolicies.All)
        {
            for (int seed = 1; seed <= 3; seed++)
            {
                data.Add(p.Name, seed);
            }
        }
        return data;
    }

    /// <summary>
    /// Hierarchies where every structure replaces under one policy of the registry, evicting all the time: the
    /// results are those of no caching at all, no translation goes stale, and the policy chose victims.
    /// </summary>
    [Theory]
    [MemberData(nameof(PoliciesAndSeeds))]
    public void EveryReplacementPolicyGivesTheSameResults(string policyName, int seed)
    {
        Assert.True(ReplacementPolicies.TryParse(policyName, out var policy));
        var records = RandomTrace.Generate(300 + seed, events: 600);
        var reference = Replay(records, Presets.Uncached);
        var config = RandomConfig(300 + seed, policy);
        var core = new SimulatedCore(config: config) { CheckStale = true };
        var actual = new List<AccessOutcome>();
        foreach (var rec in records)
        {
            if (core.Execute(in rec, out var o))
            {
                actual.Add(o);
            }
        }
        OutcomeComparer.AssertSame(reference, actual, $"seed {seed} with {config.Name}");
        Assert.True(core.Stale!.Count == 0, $"{config.Name}: {core.Stale.Reports.FirstOrDefault()}");
        var caches = core.Caches;
        Assert.All(caches.Tlbs.Select(t => t.Config.Policy)
            .Concat(caches.WalkCaches.Select(w => w.Config.Policy))
            .Concat(caches.IpaCache is { } ipa ? [ipa.Config.Policy] : []), p => Assert.Equal(policy, p));
        long evictions = caches.Tlbs.Sum(t => t.Stats.Evictions) + caches.WalkCaches.Sum(w => w.Stats.Evictions) + (caches.IpaCache?.Stats.Evictions ?? 0);
        Assert.True(evictions > 0, $"{config.Name}: no structure was ever full, so the policy never chose");
    }
}

/// <summary>
/// Random traces that keep the TLB maintenance rules: every table or stage-2 change is followed by a TLBI that
/// covers it, register changes that affect translation by VMALLE1; ASID and VMID switches need none.
/// </summary>
public static class RandomTrace
{
    private const ulong S2Root = 0x8000_0000;
    private const ulong IpaBase = 0x4000_0000;   // IPA of stage-1 tables and data; PA = IPA + 0x5000_0000
    private const ulong IpaSize = 0x80_0000;     // 8 MiB mapped by stage 2
    private const ulong IpaToPa = 0x5000_0000;

    public static List<TraceRecord> Generate(int seed, int events)
    {
        var r = new Random(seed);
        var recs = new List<TraceRecord>();
        long line = 0;
        void Add(TraceRecord rec)
        {
            rec.Line = ++line;
            recs.Add(rec);
        }
        void Mem(ulong pa, ulong v) => Add(new TraceRecord { Op = TraceOp.Mem, Address = pa, Value = v });
        void Reg(SysReg reg, ulong v) => Add(new TraceRecord { Op = TraceOp.Reg, Reg = reg, Value = v });
        void Tlbi(TlbiOp op, ulong xt = 0) => Add(new TraceRecord { Op = TraceOp.Tlbi, Tlbi = op, Value = xt, HasOperand = true });

        bool twoStage = r.Next(3) != 0;
        bool ha = r.Next(2) == 0, hd = ha && r.Next(2) == 0;
        bool s2ha = twoStage && r.Next(2) == 0, s2hd = s2ha && r.Next(2) == 0;
        var mem = new PhysicalMemory();
        var s2 = twoStage ? new PageTableBuilder(mem, Granule.K4, 40, 0, new FrameAllocator(S2Root, 0x10_0000)) { OnWrite = Mem } : null;
        var s1 = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(IpaBase, 0x10_0000)) { OnWrite = Mem };
        if (twoStage)
        {
            s1.TableToPhysical = ipa => ipa + IpaToPa;
            // Stage 2: 4K pages, RW, AF=1; DBM (writable-clean) on some data pages when HD.
            for (ulong ipa = IpaBase; ipa < IpaBase + IpaSize; ipa += 0x1000)
            {
                bool data = ipa >= IpaBase + 0x10_0000;
                bool dbm = s2hd && data && r.Next(3) == 0;
                int s2ap = dbm ? 1 : data && r.Next(20) == 0 ? 1 : 3;
                bool af = !data || !s2ha || r.Next(4) != 0;
                s2!.Set(ipa, 3, Descriptors.Stage2Leaf(ipa + IpaToPa, 3, Granule.K4, s2ap: s2ap, af: af, dbm: dbm, xn: data && r.Next(10) == 0 ? 2 : 0));
            }
        }
        ulong dataIpa = IpaBase + 0x10_0000;
        var pages = new List<ulong>();
        ulong Leaf(ulong oa, int level, bool contiguous = false, int? apFixed = null, bool? nGFixed = null) =>
            Descriptors.Stage1Leaf(oa, level, Granule.K4, ap: apFixed ?? r.Next(4), nG: nGFixed ?? r.Next(2) == 0,
                pxn: r.Next(4) == 0, uxn: r.Next(4) == 0, af: !ha ? r.Next(12) != 0 : r.Next(3) != 0,
                dbm: hd && r.Next(2) == 0, contiguous: contiguous);
        // Pages in two 2 MiB regions, a consistent 16-page contiguous group, and a 2 MiB block.
        for (int i = 0; i < 24; i++)
        {
            ulong va = 0x1000_0000 + (ulong)r.Next(64) * 0x1000 + (i % 2 == 0 ? 0UL : 0x20_0000UL);
            if (!pages.Contains(va))
            {
                s1.Set(va, 3, Leaf(dataIpa + (ulong)r.Next(256) * 0x1000, 3));
                pages.Add(va);
            }
        }
        {
            int ap = r.Next(4);
            bool nG = r.Next(2) == 0;
            ulong groupDesc = Descriptors.Stage1Leaf(0, 3, Granule.K4, ap: ap, nG: nG, af: true, contiguous: true);
            for (int i = 0; i < 16; i++)
            {
                ulong va = 0x1040_0000 + (ulong)i * 0x1000;
                s1.Set(va, 3, Descriptors.WithAddress(groupDesc, dataIpa + 0x10_0000 + (ulong)i * 0x1000, Granule.K4, false));
                pages.Add(va);
            }
        }
        s1.Set(0x2000_0000, 2, Leaf(IpaBase + 0x60_0000, 2));
        pages.Add(0x2000_0000);
        pages.Add(0x2000_0000 + 0x1F_F000);

        var regs = new List<(SysReg, ulong)>
        {
            (SysReg.MAIR_EL1, 0xff),
            (SysReg.TCR_EL1, 0x0000_0002_8080_3510 | (ha ? 1UL << 39 : 0) | (hd ? 1UL << 40 : 0)),
            (SysReg.TTBR0_EL1, (1UL << 48) | s1.Root),
        };
        if (twoStage)
        {
            regs.Add((SysReg.VTCR_EL2, 0x8002_3598 | (s2ha ? 1UL << 21 : 0) | (s2hd ? 1UL << 22 : 0)));
            regs.Add((SysReg.VTTBR_EL2, (1UL << 48) | s2!.Root));
            regs.Add((SysReg.HCR_EL2, 0x8000_0001));
        }
        bool wxn = r.Next(4) == 0;
        regs.Add((SysReg.SCTLR_EL1, 1 | (wxn ? 1UL << 19 : 0)));
        foreach (var (reg, v) in regs)
        {
            Reg(reg, v);
        }

        int asid = 1;
        int vmid = 1;
        bool manyVmids = false;
        byte el = 1;
        ulong lastPage = pages[0];
        ulong frames = IpaBase + 0x8_0000; // spare table frames (IPA), for moved L3 tables
        void StageOneChanged(ulong va, bool leafOnly)
        {
            if (manyVmids)
            {
                Tlbi(TlbiOp.ALLE1);
                return;
            }
            // A range operand of 4K pages that covers va: starting at its page or the one before (every range holds
            // at least two pages), any SCALE/NUM, any TTL level (a wrong hint never keeps an entry).
            ulong RangeOver(ulong asid) => (asid << 48) | (1UL << 46) | ((ulong)r.Next(2) << 44) | ((ulong)r.Next(32) << 39)
                | ((ulong)r.Next(4) << 37) | (((va >> 12) - (ulong)r.Next(2)) & ((1UL << 37) - 1));
            TlbiOp Shared(TlbiOp op) => (TlbiOp)((int)op + 64 * r.Next(3)); // the local, IS or OS form
            switch (r.Next(6))
            {
                case 4: Tlbi(Shared(leafOnly ? TlbiOp.RVAALE1 : TlbiOp.RVAAE1), RangeOver(0)); break;
                case 5:
                    for (ulong a = 1; a <= 3; a++)
                    {
                        Tlbi(Shared(leafOnly ? TlbiOp.RVALE1 : TlbiOp.RVAE1), RangeOver(a));
                    }
                    break;
                case 0: Tlbi(TlbiOp.VMALLE1); break;
                case 1: Tlbi(leafOnly ? TlbiOp.VAALE1 : TlbiOp.VAAE1, (va >> 12) & 0xFFF_FFFF_FFFF); break;
                case 2:
                    for (ulong a = 1; a <= 3; a++)
                    {
                        Tlbi(leafOnly ? TlbiOp.VALE1 : TlbiOp.VAE1, (a << 48) | ((va >> 12) & 0xFFF_FFFF_FFFF));
                    }
                    break;
                default: Tlbi(TlbiOp.VAAE1, (va >> 12) & 0xFFF_FFFF_FFFF); break;
            }
        }

        for (int e = 0; e < events; e++)
        {
            int k = r.Next(100);
            if (k < 72)
            {
                byte want = (byte)(r.Next(3) == 0 ? 0 : 1);
                if (want != el)
                {
                    el = want;
                    Add(new TraceRecord { Op = TraceOp.El, Value = el });
                }
                // Locality: often the page of the previous access, so TLB hits are common.
                ulong va = r.Next(25) == 0 ? 0x1000_0000 + (ulong)r.Next(1024) * 0x1000 : r.Next(2) == 0 ? lastPage : pages[r.Next(pages.Count)];
                lastPage = va;
                var op = (TraceOp)(r.Next(3) switch { 0 => (int)TraceOp.Read, 1 => (int)TraceOp.Write, _ => (int)TraceOp.Fetch });
                ulong off = op == TraceOp.Fetch ? (ulong)r.Next(1024) * 4 : (ulong)r.Next(4096 - 8);
                Add(new TraceRecord { Op = op, Address = va + off, Size = (byte)(op == TraceOp.Fetch ? 4 : 8) });
            }
            else if (k < 78)
            {
                // Rewrite a leaf (new output, attributes, or invalid), then invalidate it: for the 2 MiB block, by
                // any VA inside it (TLB entries may hold 4K pieces of it).
                ulong va = pages[r.Next(pages.Count)];
                if (va >= 0x2000_0000)
                {
                    ulong block = r.Next(6) == 0 ? 0 : Leaf(IpaBase + (r.Next(2) == 0 ? 0x60_0000UL : 0x40_0000UL), 2);
                    s1.Set(0x2000_0000, 2, block);
                    StageOneChanged(0x2000_0000 + (ulong)r.Next(512) * 0x1000, leafOnly: true);
                }
                else
                {
                    ulong desc = r.Next(6) == 0 ? 0 : Leaf(dataIpa + (ulong)r.Next(256) * 0x1000, 3);
                    s1.Set(va, 3, desc);
                    StageOneChanged(va, leafOnly: true);
                }
            }
            else if (k < 80)
            {
                // Move the L3 table of a region: copy it, point the L2 entry at the copy, invalidate all levels.
                ulong va = pages[r.Next(pages.Count - 2)];
                ulong l2Slot = s1.DescriptorAddress(va, 2);
                ulong oldTable = s1.Read(l2Slot) & 0x0000_FFFF_FFFF_F000;
                ulong newTable = frames;
                frames += 0x1000;
                for (int i = 0; i < 512; i++)
                {
                    ulong d = mem.Peek64(new PhysicalAddress(s1.TableToPhysical(oldTable + (ulong)i * 8)));
                    if (d != 0)
                    {
                        ulong pa = s1.TableToPhysical(newTable + (ulong)i * 8);
                        mem.Write64(new PhysicalAddress(pa), d);
                        Mem(pa, d);
                    }
                }
                ulong l2Pa = s1.TableToPhysical(l2Slot);
                ulong table = Descriptors.Table(newTable, Granule.K4);
                mem.Write64(new PhysicalAddress(l2Pa), table);
                Mem(l2Pa, table);
                StageOneChanged(va, leafOnly: false);
                if (ha)
                {
                    // The copy holds the leaves as this generator wrote them, without the AF/dirty updates the
                    // replay made since: every page of the region may have changed, so each is invalidated.
                    foreach (ulong p in pages.Where(p => (p >> 21) == (va >> 21) && p != va))
                    {
                        Tlbi(TlbiOp.VAAE1, (p >> 12) & 0xFFF_FFFF_FFFF);
                    }
                }
            }
            else if (k < 82 && twoStage)
            {
                // Remap a stage-2 data page: IPAS2E1 for the IPA, then VMALLE1 (or everything with several VMIDs).
                ulong ipa = dataIpa + (ulong)r.Next(256) * 0x1000;
                s2!.Set(ipa, 3, Descriptors.Stage2Leaf(ipa + IpaToPa + (ulong)r.Next(2) * 0x100_0000, 3, Granule.K4, s2ap: r.Next(4) == 0 ? 1 : 3));
                if (manyVmids)
                {
                    Tlbi(TlbiOp.ALLE1);
                }
                else
                {
                    Tlbi(TlbiOp.IPAS2E1, ipa >> 12);
                    Tlbi(r.Next(2) == 0 ? TlbiOp.VMALLE1 : TlbiOp.VMALLS12E1);
                }
            }
            else if (k < 86)
            {
                asid = r.Next(1, 4);
                Reg(SysReg.TTBR0_EL1, ((ulong)asid << 48) | s1.Root);
            }
            else if (k < 87 && twoStage)
            {
                vmid = r.Next(1, 3);
                manyVmids |= vmid != 1;
                Reg(SysReg.VTTBR_EL2, ((ulong)vmid << 48) | s2!.Root);
            }
            else if (k < 91)
            {
                // Read back the descriptors of a recently used page: hardware AF/dirty updates must be the same.
                ulong va = r.Next(2) == 0 ? lastPage : pages[r.Next(pages.Count)];
                ulong slot = s1.DescriptorAddress(va, va >= 0x2000_0000 ? 2 : 3);
                Add(new TraceRecord { Op = TraceOp.Dump, Address = s1.TableToPhysical(slot) });
                ulong ipa = s1.Read(slot) & 0x0000_FFFF_FFFF_F000;
                if (twoStage && ipa >= IpaBase && ipa < IpaBase + IpaSize)
                {
                    Add(new TraceRecord { Op = TraceOp.Dump, Address = s2!.DescriptorAddress(ipa, 3) });
                }
            }
            else if (k < 94)
            {
                Add(new TraceRecord { Op = TraceOp.At, At = (AtOp)r.Next(twoStage ? 8 : 4), Address = pages[r.Next(pages.Count)] + (ulong)r.Next(4096) });
            }
            else if (k < 97)
            {
                // An extra TLBI of any kind is always allowed.
                var all = Enum.GetValues<TlbiOp>();
                var op = all[r.Next(all.Length)];
                Tlbi(op, ((ulong)r.Next(1, 4) << 48) | ((pages[r.Next(pages.Count)] >> 12) & 0xFFF_FFFF_FFFF));
            }
            else
            {
                wxn = !wxn;
                Reg(SysReg.SCTLR_EL1, 1 | (wxn ? 1UL << 19 : 0));
                Tlbi(manyVmids ? TlbiOp.ALLE1 : TlbiOp.VMALLE1);
            }
        }
        return recs;
    }
}
