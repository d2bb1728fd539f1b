using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Checking;

/// <summary>
/// Where one descriptor sits for one PE: the stage and level of the lookup that reads it, the input addresses it
/// translates ([<see cref="InputBase"/>, + 2^<see cref="Shift"/>), VA[55:0] or IPA), and the tags a TLB entry made
/// from it carries (regime, ASID of the TTBR it was reached from, VMID).
/// </summary>
internal readonly record struct DescriptorPlace(int Pe, byte Stage, sbyte Level, ulong InputBase, int Shift,
    TranslationRegime Regime, ushort Asid, ushort Vmid, Granule Granule)
{
    public ulong InputLast => InputBase + (BitOps.Mask(Shift));
}

/// <summary>
/// The translation tables reachable from every PE's enabled regimes (Arm ARM D8.2, "Translation tables"): which
/// table pages hold descriptors and where each descriptor sits. Built by walking the tables from the TTBRs and
/// VTTBR of each PE (stage-1 table addresses of the EL1&amp;0 regime through stage 2 when it is on), and rebuilt when a
/// table descriptor or a translation register changes. What it holds grows with the tables, not with the trace.
/// </summary>
internal sealed class TableLocations
{
    private readonly struct TableChunk(int pe, byte stage, sbyte level, ulong pa, int entries, ulong inputBase,
        TranslationRegime regime, ushort asid, ushort vmid, in WalkParams p)
    {
        public readonly int Pe = pe;
        public readonly byte Stage = stage;
        public readonly sbyte Level = level;
        public readonly ulong Pa = pa;
        public readonly int Entries = entries;
        public readonly ulong InputBase = inputBase;
        public readonly TranslationRegime Regime = regime;
        public readonly ushort Asid = asid;
        public readonly ushort Vmid = vmid;
        public readonly Granule Granule = p.Granule;
    }

    /// <summary>Most descriptors one build reads (a bound for tables that loop or are huge).</summary>
    public const int MaxEntries = 1 << 22;

    private readonly PhysicalMemory _memory;
    private readonly Dictionary<ulong, List<TableChunk>> _pages = new();
    private readonly HashSet<(ulong, int, byte, sbyte)> _seen = new();
    private int _budget;

    public TableLocations(PhysicalMemory memory) => _memory = memory;

    /// <summary>The index no longer describes the tables (a table descriptor or translation register changed).</summary>
    public bool Stale { get; set; } = true;

    /// <summary>Rebuilds the index from the registers of <paramref name="pes"/>.</summary>
    public void Build(IReadOnlyList<SimulatedCore> pes)
    {
        _pages.Clear();
        _seen.Clear();
        _budget = MaxEntries;
        for (int i = 0; i < pes.Count; i++)
        {
            ScanPe(i, pes[i]);
        }
        Stale = false;
    }

    /// <summary>Every place of the descriptor at <paramref name="pa"/> (none when no PE can reach it).</summary>
    public void Find(ulong pa, List<DescriptorPlace> places)
    {
        places.Clear();
        foreach (int pageShift in PageShifts)
        {
            if (!_pages.TryGetValue(pa & ~BitOps.Mask(pageShift), out var chunks))
            {
                continue;
            }
            foreach (var c in chunks)
            {
                if ((int)c.Granule != pageShift || pa < c.Pa || pa >= c.Pa + ((ulong)c.Entries << 3))
                {
                    continue;
                }
                int index = (int)((pa - c.Pa) >> 3);
                int shift = TranslationGeometry.LevelShift(c.Granule, c.Level);
                places.Add(new DescriptorPlace(c.Pe, c.Stage, c.Level, c.InputBase + ((ulong)index << shift), shift,
                    c.Regime, c.Asid, c.Vmid, c.Granule));
            }
        }
    }

    private static readonly int[] PageShifts = [12, 14, 16];

    private void ScanPe(int pe, SimulatedCore core)
    {
        var regs = core.Registers;
        var mmu = core.Mmu;
        var hcr = regs.Hcr;
        bool s2 = TranslationRegime.El10.Stage2Enabled(regs);
        ushort vmid = mmu.CurrentVmid;
        if (s2)
        {
            var p2 = mmu.Stage2Params;
            if (!p2.ConfigFault)
            {
                Scan(pe, 2, in p2, p2.StartLevel, p2.TableBase, 1 << p2.FirstLevelBits, 0, TranslationRegime.El10, 0, vmid, nested: false);
            }
        }
        foreach (var regime in new[] { TranslationRegime.El10, hcr.E2H ? TranslationRegime.El20 : TranslationRegime.El2 })
        {
            if (!regime.Stage1Enabled(regs))
            {
                continue;
            }
            for (int r = 0; r < (regime.HasTwoVaRanges() ? 2 : 1); r++)
            {
                bool upper = r == 1;
                var p = mmu.Stage1Params(regime, upper);
                if (p.Epd || p.ConfigFault)
                {
                    continue;
                }
                ulong inBase = upper ? BitOps.Mask(55, p.InputSize) : 0;
                Scan(pe, 1, in p, p.StartLevel, p.TableBase, 1 << p.FirstLevelBits, inBase, regime,
                    regime.HasAsid() ? p.Tag : (ushort)0, vmid, nested: regime == TranslationRegime.El10 && s2, stage2: mmu.Stage2Params);
            }
        }
    }

    private void Scan(int pe, byte stage, in WalkParams p, int level, ulong table, int entries, ulong inBase,
        TranslationRegime regime, ushort asid, ushort vmid, bool nested, WalkParams stage2 = default)
    {
        int g = (int)p.Granule;
        int perPage = 1 << (g - 3);
        int shift = TranslationGeometry.LevelShift(p.Granule, level);
        for (int first = 0; first < entries; first += perPage)
        {
            ulong address = table + ((ulong)first << 3);
            ulong pa = address;
            if (nested && !Stage2Output(in stage2, address, out pa))
            {
                continue;
            }
            int n = Math.Min(perPage, entries - first);
            ulong chunkBase = inBase + ((ulong)first << shift);
            if (!_seen.Add((pa, pe, stage, (sbyte)level)) || _budget <= 0)
            {
                continue;
            }
            ulong key = pa & ~BitOps.Mask(g);
            if (!_pages.TryGetValue(key, out var list))
            {
                _pages[key] = list = new List<TableChunk>();
            }
            list.Add(new TableChunk(pe, stage, (sbyte)level, pa, n, chunkBase, regime, asid, vmid, in p));
            _budget -= n;
            if (level == 3)
            {
                continue;
            }
            for (int i = 0; i < n; i++)
            {
                ulong desc = Read(pa + ((ulong)i << 3), p.BigEndian);
                if ((desc & 3) == 3)
                {
                    Scan(pe, stage, in p, level + 1, Mmu.DescriptorAddress(desc, in p), perPage, chunkBase + ((ulong)i << shift),
                        regime, asid, vmid, nested, stage2);
                }
            }
        }
    }

    private ulong Read(ulong pa, bool bigEndian)
    {
        ulong v = _memory.Peek64(new PhysicalAddress(pa));
        return bigEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v) : v;
    }

    /// <summary>The PA stage 2 gives <paramref name="ipa"/> (a table of a nested stage 1), false when it maps none.</summary>
    private bool Stage2Output(in WalkParams p, ulong ipa, out ulong pa)
    {
        pa = 0;
        int level = p.StartLevel;
        ulong table = p.TableBase;
        int bits = p.FirstLevelBits;
        for (int guard = 0; guard < 5; guard++)
        {
            int shift = TranslationGeometry.LevelShift(p.Granule, level);
            ulong index = (ipa >> shift) & BitOps.Mask(bits);
            ulong desc = Read(table + (index << 3), p.BigEndian);
            if ((desc & 1) == 0)
            {
                return false;
            }
            if (level < 3 && (desc & 2) != 0)
            {
                table = Mmu.DescriptorAddress(desc, in p);
                level++;
                bits = (int)p.Granule - 3;
                continue;
            }
            pa = (Mmu.DescriptorAddress(desc, in p) & ~BitOps.Mask(shift)) | (ipa & BitOps.Mask(shift));
            return true;
        }
        return false;
    }
}
