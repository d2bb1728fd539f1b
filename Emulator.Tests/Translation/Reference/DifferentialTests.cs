using System.Text;
using Xunit.Abstractions;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation.Reference;

/// <summary>
/// Randomized differential test: seeded random table set-ups (granules, TxSZ, start levels, concatenation, DS, valid,
/// invalid and out-of-range descriptors, permissions, table attributes, AF/DBM with HA/HD, stage 2 on and off, the EL2
/// regime, RAM holes, HCR_EL2 controls; since trace format v2 also the EL2&amp;0 regime with one or two ranges and
/// E2H/TGE, SCTLR_ELx.A, Device attributes, SCTLR_ELx.EE with every table of a big-endian stage stored byte-reversed)
/// and random accesses at EL0/1/2 (R/W/X, LDTR/STTR, sizes 1 to 16 bytes, some misaligned, under PSTATE.PAN or not)
/// and AT instructions (S1E1RP/WP included), run through the engine (via
/// <see cref="MmuSim.Core.SimulatedCore"/>) and through <see cref="ReferenceMmu"/> on an identical copy. Every access must
/// agree on the PA or the whole fault (type, stage, level, S1PTW, target EL, ESR, FAR, HPFAR), every AT on PAR_EL1, and
/// after every access all descriptor memory must agree (hardware AF/dirty updates).
/// </summary>
public class DifferentialTests(ITestOutputHelper output)
{
    private const int Seeds = 1600;

    /// <summary>MMUSIM_DIFF_SEEDS=N runs N seeds instead (to look for disagreements locally with more than CI runs).</summary>
    private static int SeedCount => int.TryParse(Environment.GetEnvironmentVariable("MMUSIM_DIFF_SEEDS"), out int n) && n > 0 ? n : Seeds;

    private enum Kind
    {
        Access,
        At,
    }

    /// <summary>
    /// One probe: an access (<see cref="Op"/> R/W/X/ldtr/sttr of <see cref="Size"/> bytes at <see cref="El"/>) or an AT,
    /// with PSTATE.PAN as <see cref="Pan"/> when it runs.
    /// </summary>
    private readonly record struct Probe(Kind Kind, ulong Va, int El, AccessType Type, AtOp At, TraceOp Op = TraceOp.Read, int Size = 8, bool Pan = false);

    /// <summary>What a seed's machine has, beyond its registers: whether EL0 and EL2 are in the host (E2H=1, TGE=1), and the EE bits.</summary>
    private sealed class Setup
    {
        public bool Host;
        public bool Vhe;
        public bool BigEndian1;
        public bool BigEndian2;
    }

    private sealed class Coverage
    {
        public readonly Dictionary<(FaultType, int, bool), int> Faults = new();
        public int Successes;
        public int Ats;
        public int Translations;
        public int Updates;
        /// <summary>Named counters of the features the version-2 rules add (EL2&amp;0, PAN, LDTR/STTR, alignment, EE).</summary>
        public readonly SortedDictionary<string, int> Features = new(StringComparer.Ordinal);

        public void Note(string feature, bool when = true)
        {
            if (when)
            {
                Features[feature] = Features.GetValueOrDefault(feature) + 1;
            }
        }

        public int this[string feature] => Features.GetValueOrDefault(feature);
    }

    [Fact]
    public void RandomSetUpsAgreeWithTheReferenceWalker()
    {
        var coverage = new Coverage();
        var failures = new List<string>();
        for (int seed = 1; seed <= SeedCount && failures.Count < 3; seed++)
        {
            RunSeed(seed, coverage, failures);
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        output.WriteLine($"{coverage.Translations} translations ({coverage.Ats} AT), {coverage.Successes} successes, {coverage.Updates} hardware updates");
        foreach (var (k, v) in coverage.Faults.OrderBy(kv => kv.Key))
        {
            output.WriteLine($"  {k.Item1} stage {k.Item2}{(k.Item3 ? " S1PTW" : "")}: {v}");
        }
        foreach (var (k, v) in coverage.Features)
        {
            output.WriteLine($"  {k}: {v}");
        }

        // The generator must reach what it is meant to test, or agreement proves little.
        Assert.True(coverage.Translations >= 5000, $"only {coverage.Translations} translations");
        Assert.True(coverage.Successes >= 1000, $"only {coverage.Successes} successful translations");
        Assert.True(coverage.Ats >= 1000, $"only {coverage.Ats} AT instructions");
        Assert.True(coverage.Updates >= 100, $"only {coverage.Updates} hardware updates");
        foreach (var type in new[] { FaultType.Translation, FaultType.AddressSize, FaultType.AccessFlag, FaultType.Permission, FaultType.ExternalWalk })
        {
            foreach (var (stage, s1ptw) in new[] { (1, false), (2, false), (2, true) })
            {
                Assert.True(coverage.Faults.GetValueOrDefault((type, stage, s1ptw)) >= 5, $"too few {type} faults at stage {stage} (S1PTW={s1ptw})");
            }
        }
        foreach (var (feature, least) in new (string, int)[]
        {
            ("EL2&0 translations", 1000), ("EL2&0 successes", 200), ("EL2&0 faults to EL2 from EL0", 50), ("EL2&0 AT", 200),
            ("EL2&0 upper range successes", 20), ("PAN permission faults", 20), ("PAN accesses allowed", 100),
            ("AT S1E1RP/WP", 100), ("LDTR/STTR with EL0 permissions", 200), ("LDTR/STTR successes", 50),
            ("alignment faults, SCTLR.A", 20), ("alignment faults, Device at stage 1", 20), ("alignment faults, Device at stage 2", 5),
            ("misaligned successes", 50), ("big-endian stage-1 successes", 100), ("big-endian stage-2 successes", 50),
            ("big-endian hardware updates", 10), ("page crossings", 1000), ("page crossings faulting on the second page", 50),
            ("alignment faults on the second page", 5),
        })
        {
            Assert.True(coverage[feature] >= least, $"only {coverage[feature]} {feature}");
        }
    }

    /// <summary>
    /// The same random set-ups through a core with TLBs and walk caches (each preset's): tables change only by hardware
    /// updates here, which the caches must follow, so every answer must still be the reference's — with PSTATE.PAN
    /// changing between probes, LDTR/STTR beside ordinary accesses on one entry, misaligned accesses to Device pages
    /// the TLB holds, and EL2&amp;0 entries beside EL1&amp;0 ones.
    /// </summary>
    [Theory]
    [InlineData("neoverse-n1")]
    [InlineData("cortex-a53")]
    public void RandomSetUpsAgreeThroughTlbsAndWalkCaches(string preset)
    {
        Assert.True(Presets.TryGet(preset, out var config));
        var coverage = new Coverage();
        var failures = new List<string>();
        long hits = 0;
        for (int seed = 1; seed <= SeedCount / 2 && failures.Count < 3; seed++)
        {
            hits += RunSeed(seed, coverage, failures, config, twice: true);
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        output.WriteLine($"{coverage.Translations} translations, {hits} TLB hits, {coverage.Successes} successes");
        Assert.True(hits >= 3000, $"only {hits} TLB hits: the caches were hardly used");
        foreach (var feature in new[] { "PAN permission faults", "PAN accesses allowed", "LDTR/STTR successes", "alignment faults, Device at stage 1", "EL2&0 successes" })
        {
            Assert.True(coverage[feature] >= 10, $"only {coverage[feature]} {feature}");
        }
    }

    /// <param name="twice">Run each probe twice in a row, so that a TLB answers the second.</param>
    /// <returns>The engine's TLB hits.</returns>
    private static long RunSeed(int seed, Coverage coverage, List<string> failures, ModelConfig? config = null, bool twice = false)
    {
        var engineWrites = new HashSet<ulong>();
        var engine = new Scenario(config);
        var probes = Generator.Build(seed, engine, engineWrites, out var setup);
        if (twice)
        {
            probes = probes.SelectMany(p => new[] { p, p }).ToList();
        }
        var refWrites = new HashSet<ulong>();
        var twin = new Scenario();
        Generator.Build(seed, twin, refWrites, out _);
        var reference = new ReferenceMmu(twin.Regs, twin.Memory);
        var written = engineWrites.Order().ToArray();

        for (int i = 0; i < probes.Count; i++)
        {
            var p = probes[i];
            long updatesBefore = engine.Mmu.HardwareUpdates;
            string? why;
            engine.Core.SetPan(p.Pan);
            RefResult rr;
            bool inEl20;
            if (p.Kind == Kind.At)
            {
                var (el, write, mode, checksPan) = DecodeAt(p.At);
                ulong par = engine.At(p.At, p.Va).Par;
                // In the host AT S1E1* translate in EL2&0 with EL2's permissions; S1E0* reach EL2&0 through EL0.
                int runEl = setup.Host && el == 1 && mode == AtMode.Stage1 ? 2 : el;
                rr = reference.Translate(new RefAccess(p.Va, runEl, runEl, write ? AccessType.Write : AccessType.Read, mode, Pan: p.Pan && checksPan));
                ulong expected = ReferenceMmu.Par(rr);
                why = par == expected ? null : $"PAR 0x{par:x} vs reference 0x{expected:x} ({rr})";
                coverage.Ats++;
                inEl20 = setup.Vhe && (runEl == 2 || (runEl == 0 && setup.Host));
                coverage.Note("EL2&0 AT", inEl20);
                coverage.Note("AT S1E1RP/WP", checksPan);
            }
            else
            {
                engine.Core.CurrentEl = (byte)p.El;
                engine.Core.Execute(new TraceRecord { Op = p.Op, Address = p.Va, Size = (byte)p.Size, Line = 1 }, out var o);
                bool unpriv = p.Op is TraceOp.Ldtr or TraceOp.Sttr && (p.El == 1 || (p.El == 2 && setup.Host));
                rr = reference.TranslateAccess(new RefAccess(p.Va, p.El, unpriv ? 0 : p.El, p.Type, Pan: p.Pan, Size: p.Type == AccessType.Fetch ? 4 : p.Size), out ulong far);
                why = CompareAccess(o, rr, reference, p, far);
                bool crossing = (p.Va & 0xFFF) + (ulong)p.Size > 0x1000;
                coverage.Note("page crossings", crossing);
                coverage.Note("page crossings faulting on the second page", crossing && rr.Faulted && far != p.Va);
                coverage.Note("alignment faults on the second page", crossing && rr.Faulted && far != p.Va && rr.Type == FaultType.Alignment);
                inEl20 = setup.Vhe && (p.El == 2 || (p.El == 0 && setup.Host));
                coverage.Note("LDTR/STTR with EL0 permissions", unpriv);
                coverage.Note("LDTR/STTR successes", unpriv && !rr.Faulted);
                coverage.Note("PAN accesses allowed", p.Pan && !unpriv && p.El != 0 && p.Type != AccessType.Fetch && !rr.Faulted);
                coverage.Note("misaligned successes", p.Type != AccessType.Fetch && p.Va % (ulong)p.Size != 0 && !rr.Faulted);
                coverage.Note("EL2&0 faults to EL2 from EL0", inEl20 && p.El == 0 && rr.Faulted);
            }
            Count(coverage, rr);
            coverage.Note("EL2&0 translations", inEl20);
            coverage.Note("EL2&0 successes", inEl20 && !rr.Faulted);
            coverage.Note("EL2&0 upper range successes", inEl20 && !rr.Faulted && (p.Va >> 55 & 1) != 0);
            coverage.Note("PAN permission faults", rr.Faulted && rr.Pan);
            coverage.Note("alignment faults, SCTLR.A", rr.Faulted && rr.Type == FaultType.Alignment && rr.BeforeLookup);
            coverage.Note("alignment faults, Device at stage 1", rr.Faulted && rr.Type == FaultType.Alignment && !rr.BeforeLookup && rr.Stage == 1);
            coverage.Note("alignment faults, Device at stage 2", rr.Faulted && rr.Type == FaultType.Alignment && rr.Stage == 2);
            coverage.Note("big-endian stage-1 successes", !rr.Faulted && (inEl20 || p.El == 2 ? setup.BigEndian2 : setup.BigEndian1));
            coverage.Note("big-endian stage-2 successes", !rr.Faulted && setup.BigEndian2 && !inEl20 && p.El != 2 && engine.Regs.Hcr.Vm);
            coverage.Translations++;
            int updates = (int)(engine.Mmu.HardwareUpdates - updatesBefore);
            coverage.Updates += updates;
            if (setup.BigEndian1 || setup.BigEndian2)
            {
                coverage.Features["big-endian hardware updates"] = coverage["big-endian hardware updates"] + updates;
            }
            if (why is null)
            {
                foreach (ulong pa in written)
                {
                    ulong a = engine.Memory.Peek64(new PhysicalAddress(pa)), b = twin.Memory.Peek64(new PhysicalAddress(pa));
                    if (a != b)
                    {
                        why = $"descriptor at PA 0x{pa:x} is 0x{a:x} in the engine, 0x{b:x} in the reference";
                        break;
                    }
                }
            }
            if (why is not null)
            {
                failures.Add(Describe(seed, i, p, why, engine));
                break;
            }
        }
        return engine.Core.Stats.TlbHits;
    }

    private static void Count(Coverage c, in RefResult r)
    {
        if (!r.Faulted)
        {
            c.Successes++;
            return;
        }
        var key = (r.Type, r.Stage, r.S1Ptw);
        c.Faults[key] = c.Faults.GetValueOrDefault(key) + 1;
    }

    private static string? CompareAccess(in MmuSim.Core.AccessOutcome o, in RefResult r, ReferenceMmu reference, Probe p, ulong far)
    {
        if (o.IsFault != r.Faulted)
        {
            return o.IsFault ? $"engine faults ({o.Fault}), reference gives {r}" : $"engine gives PA 0x{o.Pa:x}, reference faults: {r}";
        }
        if (!r.Faulted)
        {
            return o.Pa == r.Pa ? null : $"PA 0x{o.Pa:x} vs reference 0x{r.Pa:x}";
        }
        var f = o.Fault;
        if ((f.Type, (int)f.Stage, (int)f.Level, f.S1Ptw) != (r.Type, r.Stage, r.Level, r.S1Ptw))
        {
            return $"fault {f.Type} stage {f.Stage} level {f.Level} s1ptw {f.S1Ptw} vs reference {r}";
        }
        var (target, esr) = reference.Route(r, p.El, p.Type);
        if (r.Type == FaultType.Alignment)
        {
            // An alignment fault has no lookup level and no IPA to report: HPFAR_EL2 is not written (IPAValid).
            if (o.HasHpfar)
            {
                return $"alignment fault with HPFAR 0x{o.Hpfar:x}";
            }
        }
        if (o.TargetEl != target || o.Esr != esr)
        {
            return $"routing: EL{o.TargetEl} ESR 0x{o.Esr:x} vs reference EL{target} ESR 0x{esr:x}";
        }
        if (o.Far != far)
        {
            return $"FAR 0x{o.Far:x} vs reference 0x{far:x}";
        }
        if (r.Stage == 2 && r.Type != FaultType.Alignment && o.Hpfar != ((r.FaultIpa >> 12) << 4 & 0x0000_0FFF_FFFF_FFF0))
        {
            return $"HPFAR 0x{o.Hpfar:x} vs reference IPA 0x{r.FaultIpa:x}";
        }
        return null;
    }

    private static string Describe(int seed, int index, Probe p, string why, Scenario s)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"seed {seed}, probe {index}: {(p.Kind == Kind.At ? $"AT {p.At}" : $"{p.Op} size {p.Size} at EL{p.El}")} VA 0x{p.Va:x} PAN {p.Pan}");
        sb.AppendLine($"  {why}");
        foreach (var r in Enum.GetValues<SysReg>())
        {
            sb.Append($"  {r}=0x{s.Regs[r]:x}");
        }
        sb.AppendLine();
        foreach (var st in s.Mmu.Record.Steps)
        {
            sb.AppendLine($"  {st.Kind} s{st.Stage} L{st.Level}{(st.Nested ? " nested" : "")} at 0x{st.DescriptorAddress:x} (PA 0x{st.DescriptorPa:x}) = 0x{st.Descriptor:x}{(st.ExternalAbort ? " SEA" : "")}");
        }
        return sb.ToString();
    }

    /// <summary>Builds one random scenario; deterministic in the seed, so two builds give identical machines.</summary>
    private static class Generator
    {
        private const ulong Unbacked = 0x7000_0000;

        private static T Pick<T>(Random rng, params T[] items) => items[rng.Next(items.Length)];

        private static bool Chance(Random rng, int oneIn) => rng.Next(oneIn) == 0;

        private static ulong RandomBits(Random rng, int bits) => bits <= 0 ? 0 : ((ulong)rng.NextInt64() << 1 >> (64 - bits)) | (uint)rng.Next(2);

        private static int PaBits(int paRange) => paRange switch { 2 => 40, 4 => 44, 5 => 48, _ => 52 };

        /// <summary>Start levels a stage-2 table could use for an IPA size (first lookup resolving 1..stride+4 bits).</summary>
        private static List<int> S2Starts(Granule g, int ia, bool ds)
        {
            var list = new List<int>();
            int stride = (int)g - 3;
            int min = g == Granule.K4 ? (ds ? -1 : 0) : g == Granule.K16 ? (ds ? 0 : 1) : 1;
            for (int l = min; l <= 3; l++)
            {
                int first = ia - ((3 - l) * stride + (int)g);
                if (first >= 1 && first <= stride + 4)
                {
                    list.Add(l);
                }
            }
            return list;
        }

        private static Granule RandomGranule(Random rng) => Pick(rng, Granule.K4, Granule.K16, Granule.K64);

        private readonly record struct Target(ulong Va, ulong Size, int Regime, Granule G, ulong Oa);

        public static List<Probe> Build(int seed, Scenario s, HashSet<ulong> written, out Setup setup)
        {
            var rng = new Random(seed);
            setup = new Setup { BigEndian1 = Chance(rng, 5), BigEndian2 = Chance(rng, 5) };
            var swapped = new HashSet<ulong>(); // descriptors of big-endian walks, stored byte-reversed once built
            int paRange = Pick(rng, 2, 4, 5, 6, 6, 6);
            s.Regs[SysReg.ID_AA64MMFR0_EL1] = Data.Mmfr0WithPaRange(paRange);
            s.SetField(SysReg.ID_AA64MMFR1_EL1, 3, 0, (ulong)Pick(rng, 0, 1, 2, 2, 2, 2));
            s.SetField(SysReg.ID_AA64MMFR1_EL1, 31, 28, (ulong)rng.Next(2));
            s.SetField(SysReg.ID_AA64MMFR1_EL1, 15, 12, Chance(rng, 4) ? 0UL : 1);
            s.SetField(SysReg.ID_AA64MMFR2_EL1, 31, 28, Chance(rng, 5) ? 0UL : 1);
            s.SetField(SysReg.ID_AA64MMFR2_EL1, 19, 16, Chance(rng, 4) ? 0UL : 1);
            s.SetField(SysReg.ID_AA64MMFR2_EL1, 63, 60, Chance(rng, 4) ? 0UL : 1);
            int paBits = PaBits(paRange);
            void Track(PageTableBuilder b, bool bigEndian) => b.OnWrite = (pa, _) =>
            {
                written.Add(pa);
                if (bigEndian)
                {
                    swapped.Add(pa);
                }
            };

            // ---- stage 2
            bool s2 = rng.Next(2) == 0;
            int ia2 = 64;
            Granule g2 = Granule.K4;
            if (s2)
            {
                g2 = RandomGranule(rng);
                bool ds2 = g2 != Granule.K64 && Chance(rng, 4);
                ia2 = ds2 ? rng.Next(Math.Min(44, paBits), Math.Min(52, paBits) + 1) : rng.Next(28, 49);
                var starts = S2Starts(g2, ia2, ds2);
                int start = starts.Count > 0 ? Pick(rng, starts.ToArray()) : 3;
                int ps = Chance(rng, 6) ? rng.Next(0, 7) : (ia2 > 48 ? 6 : ia2 > 44 ? Pick(rng, 5, 6) : Pick(rng, 4, 5, 6));
                s.WithStage2(g2, 64 - ia2, startLevel: start, ps: ps, ds: ds2);
                Track(s.Stage2!, setup.BigEndian2);
                s.SetBit(SysReg.VTCR_EL2, 21, rng.Next(2) == 0).SetBit(SysReg.VTCR_EL2, 22, rng.Next(2) == 0);
                s.SetField(SysReg.VTCR_EL2, 13, 12, (ulong)Pick(rng, 0, 2, 3));
            }

            // ---- EL1&0 stage 1
            var g1 = RandomGranule(rng);
            bool ds1 = g1 != Granule.K64 && Chance(rng, 5);
            int ia1 = ds1 ? rng.Next(44, 53) : g1 == Granule.K64 && Chance(rng, 5) ? rng.Next(49, 53) : rng.Next(25, 49);
            if (Chance(rng, 25))
            {
                ia1 = Pick(rng, 53, 54, 16, 24); // TxSZ 11, 10 (too small), 48 (64K: too big), 40 (too big without TTST)
            }
            int ips1 = Chance(rng, 4) ? rng.Next(0, 7) : Pick(rng, 5, 6);
            s.WithStage1(g1, 64 - ia1, ips: ips1, ds: ds1);
            Track(s.Lower!, setup.BigEndian1);
            if (rng.Next(2) == 0)
            {
                var gu = RandomGranule(rng);
                int iau = ds1 && gu != Granule.K64 ? rng.Next(44, 53) : rng.Next(25, 49);
                s.WithUpper(gu, 64 - iau);
                Track(s.Upper!, setup.BigEndian1);
            }
            foreach (var (bit, oneIn) in new[] { (37, 2), (38, 2), (51, 4), (52, 4), (39, 2), (40, 2), (41, 6), (42, 6), (55, 12), (56, 12), (7, 30) })
            {
                s.SetBit(SysReg.TCR_EL1, bit, Chance(rng, oneIn));
            }
            s.SetField(SysReg.TCR_EL1, 13, 12, (ulong)Pick(rng, 0, 2, 3));
            s.SetBit(SysReg.SCTLR_EL1, 0, !Chance(rng, 20)).SetBit(SysReg.SCTLR_EL1, 19, Chance(rng, 4));
            s.SetBit(SysReg.SCTLR_EL1, 1, Chance(rng, 5)).SetBit(SysReg.SCTLR_EL1, 25, setup.BigEndian1); // A, EE
            s.SetBit(SysReg.SCTLR_EL2, 1, Chance(rng, 5)).SetBit(SysReg.SCTLR_EL2, 25, setup.BigEndian2);
            s.SetBit(SysReg.HCR_EL2, 12, Chance(rng, 25)).SetBit(SysReg.HCR_EL2, 27, Chance(rng, 25));
            s.SetBit(SysReg.HCR_EL2, 2, Chance(rng, 4)).SetBit(SysReg.HCR_EL2, 37, Chance(rng, 4)).SetBit(SysReg.HCR_EL2, 32, Chance(rng, 8));

            // ---- EL2 regime
            bool el2 = Chance(rng, 2);
            if (el2)
            {
                var ge = RandomGranule(rng);
                bool dse = ge != Granule.K64 && Chance(rng, 5);
                int iae = dse ? rng.Next(44, 53) : rng.Next(25, 49);
                setup.Vhe = Chance(rng, 2);
                if (setup.Vhe)
                {
                    // FEAT_VHE: E2H=1, TCR_EL2 in the TCR_EL1 layout with one or two ranges; in the host (TGE=1) EL0 too.
                    int ipse = Chance(rng, 4) ? rng.Next(0, 7) : Pick(rng, 5, 6);
                    s.WithEl20(ge, 64 - iae, ips: ipse, ds: dse);
                    Track(s.El2!, setup.BigEndian2);
                    if (rng.Next(3) != 0)
                    {
                        var gu = RandomGranule(rng);
                        int iau = dse && gu != Granule.K64 ? rng.Next(44, 53) : rng.Next(25, 49);
                        s.WithEl20Upper(gu, 64 - iau);
                        Track(s.El2Upper!, setup.BigEndian2);
                    }
                    foreach (var (bit, oneIn) in new[] { (37, 2), (38, 2), (51, 4), (52, 4), (39, 2), (40, 2), (41, 6), (42, 6), (55, 12), (56, 12), (7, 30) })
                    {
                        s.SetBit(SysReg.TCR_EL2, bit, Chance(rng, oneIn));
                    }
                    setup.Host = Chance(rng, 3) ? false : true;
                    s.SetBit(SysReg.HCR_EL2, 27, setup.Host);
                }
                else
                {
                    s.WithEl2(ge, 64 - iae, ps: rng.Next(0, 7), ds: dse);
                    Track(s.El2!, setup.BigEndian2);
                    foreach (var (bit, oneIn) in new[] { (20, 3), (29, 4), (21, 2), (22, 2), (24, 6) })
                    {
                        s.SetBit(SysReg.TCR_EL2, bit, Chance(rng, oneIn));
                    }
                }
                s.SetBit(SysReg.SCTLR_EL2, 0, !Chance(rng, 20)).SetBit(SysReg.SCTLR_EL2, 19, Chance(rng, 4));
            }

            bool ram = Chance(rng, 3);
            if (ram)
            {
                s.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), 0x1000_0000 - Scenario.S2Pool);
            }

            // ---- mappings
            var targets = new List<Target>();
            foreach (var (b, regime) in new[] { (s.Lower, 0), (s.Upper, 1), (s.El2, 2), (s.El2Upper, 3) })
            {
                if (b is null)
                {
                    continue;
                }
                int n = rng.Next(3, 8);
                ulong prev = 0, prevSize = 0;
                int prevLevel = 3;
                for (int i = 0; i < n; i++)
                {
                    ulong page = 1UL << (int)b.Granule;
                    int ia = Math.Min(b.InputSize, 52);
                    // Sometimes right after the previous mapping, at its level (accesses across the end cross into it).
                    bool adjacent = i > 0 && Chance(rng, 4);
                    ulong va = adjacent ? prev + prevSize
                        : i > 0 && Chance(rng, 3) ? prev + (ulong)rng.Next(1, 64) * page : RandomBits(rng, ia);
                    va &= ~(page - 1) & ((1UL << ia) - 1);
                    if (regime is 1 or 3)
                    {
                        va |= ~((1UL << ia) - 1);
                    }
                    prev = va;
                    int level = adjacent ? prevLevel : LeafLevel(rng, b, paRange);
                    ulong size = 1UL << ((int)b.Granule + ((int)b.Granule - 3) * (3 - level));
                    prevSize = size;
                    prevLevel = level;
                    int ipsBits = ips1 switch { 0 => 32, 1 => 36, 2 => 40, 3 => 42, 4 => 44, 5 => 48, _ => 52 };
                    int outBits = Math.Min(Math.Min(paBits, 48), regime >= 2 ? 48 : Math.Min(ipsBits, s2 ? ia2 : 48));
                    ulong oa = size >= (1UL << outBits) ? 0 : RandomBits(rng, outBits) & ~(size - 1);
                    if (Chance(rng, 2) && size < 0x1000_0000)
                    {
                        oa = (0x4000_0000 + RandomBits(rng, 28)) & ~(size - 1); // a compact region, shared by mappings
                    }
                    if (Chance(rng, 15))
                    {
                        oa |= 1UL << rng.Next(32, 48); // maybe above the output size
                    }
                    ulong desc = Descriptors.Stage1Leaf(oa, level, b.Granule, attrIndx: rng.Next(4), ap: rng.Next(4), sh: Pick(rng, 0, 2, 3),
                        af: !Chance(rng, 4), nG: rng.Next(2) == 0, uxn: Chance(rng, 4), pxn: Chance(rng, 4), dbm: Chance(rng, 2), ds: b.Ds);
                    b.Set(va, level, desc);
                    if (level > b.StartLevel && Chance(rng, 4))
                    {
                        s.SetTableAttrs(va, rng.Next(b.StartLevel, level), rng.Next(4), Chance(rng, 3), Chance(rng, 3), b);
                    }
                    targets.Add(new Target(va, size, regime, b.Granule, oa));
                    if (s2 && regime < 2 && !Chance(rng, 7))
                    {
                        MapStage2(rng, s, oa, size, paBits);
                    }
                }
            }

            // ---- stage-2 mappings of stage-1 table pages, occasionally made hostile
            if (s2 && s.Stage2 is not null)
            {
                for (int k = rng.Next(0, 3); k > 0; k--)
                {
                    var t = Pick(rng, targets.ToArray());
                    var b = t.Regime == 1 ? s.Upper : t.Regime == 0 ? s.Lower : null;
                    if (b is null)
                    {
                        continue;
                    }
                    ulong descIpa = b.DescriptorAddress(t.Va, rng.Next(b.StartLevel, 4));
                    ulong s2page = 1UL << (int)g2;
                    ulong ipaPage = descIpa & ~(s2page - 1);
                    ulong pa = rng.Next(4) switch
                    {
                        0 => Unbacked,
                        1 => (ipaPage + Scenario.S1TableIpaToPa) | (1UL << rng.Next(36, 48)), // maybe above PS
                        _ => ipaPage + Scenario.S1TableIpaToPa,
                    };
                    s.Stage2.Set(ipaPage, 3, Descriptors.Stage2Leaf(pa, 3, g2,
                        memAttr: Pick(rng, 0xF, 0x5, 0x1, 0x0), s2ap: Pick(rng, 0, 1, 2, 3, 3), af: !Chance(rng, 3),
                        xn: rng.Next(4), dbm: Chance(rng, 2), ds: s.Stage2.Ds));
                }
            }

            // ---- corruptions
            for (int k = rng.Next(0, 4); k > 0; k--)
            {
                var t = Pick(rng, targets.ToArray());
                var b = Chance(rng, 3) && s.Stage2 is not null ? s.Stage2 : t.Regime switch { 0 => s.Lower!, 1 => s.Upper!, 3 => s.El2Upper!, _ => s.El2! };
                ulong ia = b == s.Stage2 ? t.Oa & ((1UL << Math.Min(b.InputSize, 52)) - 1) : t.Va; // stage 2: the data IPA's path
                int level = rng.Next(b.StartLevel, 4);
                ulong value = rng.Next(6) switch
                {
                    0 => 0,
                    1 => (ulong)rng.NextInt64(),
                    2 => Descriptors.Table(Unbacked, b.Granule, b.Ds),
                    3 => Descriptors.Table((ulong)0x0400_0000 | (1UL << rng.Next(36, 52)), b.Granule, b.Ds),
                    4 => Descriptors.Stage1Leaf(0, Math.Min(level, 2), b.Granule, ds: b.Ds), // a block, maybe where none is allowed
                    _ => Descriptors.Stage1Leaf(0x4000_0000, 3, b.Granule, ds: b.Ds) & ~2UL, // reserved at level 3
                };
                b.Set(ia, level, value);
            }
            if (ram && s.Stage2 is not null && Chance(rng, 2))
            {
                // A stage-2 table of a data IPA outside RAM.
                var t = Pick(rng, targets.ToArray());
                ulong ia = t.Oa & ((1UL << Math.Min(s.Stage2.InputSize, 52)) - 1);
                s.Stage2.Set(ia, rng.Next(s.Stage2.StartLevel, 3), Descriptors.Table(Unbacked, s.Stage2.Granule, s.Stage2.Ds));
            }
            if (s2 && Chance(rng, 12))
            {
                s.SetField(SysReg.VTCR_EL2, 7, 6, (ulong)rng.Next(4));
            }
            if (s2 && Chance(rng, 20))
            {
                s.Regs[SysReg.VTTBR_EL2] |= 1UL << rng.Next(36, 48);
            }
            if (Chance(rng, 30))
            {
                s.Regs[SysReg.TTBR0_EL1] |= 1UL << rng.Next(36, 48);
            }

            // ---- big-endian walks: every descriptor of their tables stored byte-reversed
            foreach (ulong pa in swapped)
            {
                var a = new PhysicalAddress(pa);
                s.Memory.Write64(a, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(s.Memory.Peek64(a)));
            }

            // ---- probes
            var probes = new List<Probe>();
            foreach (var t in targets)
            {
                for (int k = rng.Next(2, 5); k > 0; k--)
                {
                    ulong va = t.Va + (RandomBits(rng, Math.Min(63, BitLength(t.Size) - 1)) & ~7UL & (t.Size - 1));
                    if (Chance(rng, 20))
                    {
                        va = (ulong)rng.NextInt64() << rng.Next(2);
                    }
                    if ((t.Regime != 2 || setup.Vhe) && Chance(rng, 8))
                    {
                        va = (va & 0x00FF_FFFF_FFFF_FFFF) | ((ulong)rng.Next(256) << 56); // a tag
                    }
                    // In the host EL1 is not used (EL0 and EL2 run in EL2&0).
                    int el = setup.Host ? (Chance(rng, 2) ? 0 : 2)
                        : t.Regime >= 2 ? (Chance(rng, 20) ? rng.Next(2) : 2) : (Chance(rng, 20) ? 2 : rng.Next(2));
                    bool pan = Chance(rng, 3);
                    if (Chance(rng, 3))
                    {
                        var op = setup.Host
                            ? Pick(rng, AtOp.S1E2R, AtOp.S1E2W, AtOp.S1E1R, AtOp.S1E1W, AtOp.S1E1RP, AtOp.S1E1WP, AtOp.S1E0R, AtOp.S1E0W)
                            : el == 2 ? Pick(rng, AtOp.S1E2R, AtOp.S1E2W)
                            : Pick(rng, AtOp.S1E1R, AtOp.S1E1W, AtOp.S1E1RP, AtOp.S1E1WP, AtOp.S1E0R, AtOp.S1E0W, AtOp.S12E1R, AtOp.S12E1W, AtOp.S12E0R, AtOp.S12E0W);
                        probes.Add(new Probe(Kind.At, va, el, AccessType.Read, op, Pan: pan));
                    }
                    else
                    {
                        var op = Pick(rng, TraceOp.Read, TraceOp.Write, TraceOp.Fetch, TraceOp.Read, TraceOp.Write, TraceOp.Ldtr, TraceOp.Sttr);
                        var type = op switch
                        {
                            TraceOp.Fetch => AccessType.Fetch,
                            TraceOp.Write or TraceOp.Sttr => AccessType.Write,
                            _ => AccessType.Read,
                        };
                        int size = type == AccessType.Fetch ? 4 : Pick(rng, 1, 2, 4, 8, 8, 8, 16);
                        if (size > 1 && type != AccessType.Fetch && Chance(rng, 5))
                        {
                            // Across the end of the mapping (or of a 4 KiB page in it): the next page is translated too.
                            ulong end = !Chance(rng, 4) ? t.Va + t.Size : (va | 0xFFF) + 1;
                            va = end - (ulong)rng.Next(1, size);
                        }
                        else if (Chance(rng, 3) && type != AccessType.Fetch)
                        {
                            va = (va & ~0xFFFUL) | (uint)rng.Next(0, 0x1000 - size + 1); // maybe misaligned, within the page
                        }
                        else if ((va & 0xFFF) + (ulong)size > 0x1000 || type == AccessType.Fetch)
                        {
                            va &= ~(ulong)(size - 1);
                        }
                        probes.Add(new Probe(Kind.Access, va, el, type, default, op, size, pan));
                    }
                }
            }
            // Shuffle so hardware updates interleave.
            for (int i = probes.Count - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (probes[i], probes[j]) = (probes[j], probes[i]);
            }
            return probes;
        }

        /// <summary>Mostly pages, often an allowed block level, sometimes any level (blocks where none is allowed fault).</summary>
        private static int LeafLevel(Random rng, PageTableBuilder b, int paRange)
        {
            int r = rng.Next(20);
            if (r < 11)
            {
                return 3;
            }
            if (r < 17)
            {
                var g = b.Granule;
                var allowed = new List<int>();
                for (int l = Math.Max(b.StartLevel, 0); l < 3; l++)
                {
                    bool ok = g switch
                    {
                        Granule.K4 => l is 1 or 2 || (l == 0 && b.Ds),
                        Granule.K16 => l == 2 || (l == 1 && b.Ds),
                        _ => l == 2 || (l == 1 && paRange == 6),
                    };
                    if (ok)
                    {
                        allowed.Add(l);
                    }
                }
                return allowed.Count > 0 ? Pick(rng, allowed.ToArray()) : 3;
            }
            return rng.Next(b.StartLevel, 4);
        }

        private static int BitLength(ulong x) => 64 - System.Numerics.BitOperations.LeadingZeroCount(x);

        private static void MapStage2(Random rng, Scenario s, ulong ipa, ulong s1Size, int paBits)
        {
            var b = s.Stage2!;
            int level = LeafLevel(rng, b, paRange: 6);
            ulong size = 1UL << ((int)b.Granule + ((int)b.Granule - 3) * (3 - level));
            if (ipa >= (1UL << Math.Min(b.InputSize, 52)))
            {
                return; // outside the IPA space: leave the stage-2 range fault
            }
            ulong pa = (RandomBits(rng, Math.Min(paBits, 48)) & ~(size - 1));
            if (size >= (1UL << Math.Min(paBits, 48)))
            {
                pa = 0;
            }
            if (Chance(rng, 15))
            {
                pa |= 1UL << rng.Next(32, 48);
            }
            int s2ap = Pick(rng, 3, 3, 3, 1, 1, 2, 0);
            b.Set(ipa, level, Descriptors.Stage2Leaf(pa, level, b.Granule, memAttr: Pick(rng, 0xF, 0x5, 0xA, 0x1, 0x0, 0x1),
                s2ap: s2ap, sh: Pick(rng, 0, 2, 3), af: !Chance(rng, 5), xn: rng.Next(4), dbm: Chance(rng, s2ap < 2 ? 2 : 4), ds: b.Ds));
        }
    }

    /// <summary>
    /// The test's own reading of an AT mnemonic (Arm ARM C5.5): S1 or S12 names the stages, E0/E1/E2 the EL whose
    /// translation is asked for, then R or W the direction, and a final P (FEAT_PAN2) the PAN check. Independent of the engine's decoder on purpose.
    /// </summary>
    private static (byte El, bool Write, AtMode Mode, bool Pan) DecodeAt(AtOp op)
    {
        string name = op.ToString();
        bool bothStages = name.StartsWith("S12", StringComparison.Ordinal);
        int e = name.IndexOf('E', StringComparison.Ordinal);
        byte el = (byte)(name[e + 1] - '0');
        bool pan = name.EndsWith('P'); // FEAT_PAN2: S1E1RP, S1E1WP also check PSTATE.PAN
        char dir = name[^(pan ? 2 : 1)];
        Assert.True(dir is 'R' or 'W', $"AT {name}: no direction");
        return (el, dir == 'W', bothStages ? AtMode.Stage12 : AtMode.Stage1, pan);
    }
}
