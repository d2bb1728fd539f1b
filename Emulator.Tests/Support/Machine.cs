using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Tests.Support;

/// <summary>
/// A core with a standard 4K layout for hand-computed tests. Stage 1: T0SZ=16 (4 levels, L0..L3), tables from
/// S1Pool. With two stages, stage 2: T0SZ=24, SL0=0b10 (4 levels from L0, a 40-bit IPA), tables at PA 0x8000_0000,
/// and IPA 0x4000_0000..0x4400_0000 mapped with 4K pages to PA 0x9000_0000.. (stage-1 tables and data live there).
/// A cold 4-level × 4-level walk therefore reads 24 descriptors.
/// </summary>
public sealed class Machine
{
    public const ulong S1Pool = 0x4000_0000;
    public const ulong DataIpa = 0x4100_0000;
    public const ulong S2Pool = 0x8000_0000;
    public const ulong IpaToPa = 0x5000_0000;
    private long _line;

    public Machine(ModelConfig config, bool twoStage = false, ushort asid = 1, ushort vmid = 1)
    {
        Core = new SimulatedCore(config: config);
        TwoStage = twoStage;
        var mem = Core.Memory;
        S1 = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(S1Pool, 0x10_0000));
        if (twoStage)
        {
            S2 = new PageTableBuilder(mem, Granule.K4, 40, 0, new FrameAllocator(S2Pool, 0x10_0000));
            S1.TableToPhysical = ipa => ipa + IpaToPa;
            S2.MapRange(S1Pool, S1Pool + IpaToPa, 0x400_0000, (oa, level) => Descriptors.Stage2Leaf(oa, level, Granule.K4), allowBlocks: false);
            Reg(SysReg.VTCR_EL2, 0x8002_3598);
            Reg(SysReg.VTTBR_EL2, ((ulong)vmid << 48) | S2.Root);
            Reg(SysReg.HCR_EL2, 0x8000_0001);
        }
        Reg(SysReg.MAIR_EL1, 0xff);
        Reg(SysReg.TCR_EL1, 0x0000_0002_8080_3510);
        Reg(SysReg.TTBR0_EL1, ((ulong)asid << 48) | S1.Root);
        Reg(SysReg.SCTLR_EL1, 1);
    }

    public SimulatedCore Core { get; }
    public bool TwoStage { get; }
    public PageTableBuilder S1 { get; }
    public PageTableBuilder? S2 { get; }

    /// <summary>The next trace line number (records get consecutive line numbers).</summary>
    public long Line => _line + 1;

    /// <summary>Maps a 4K page VA → OA (an IPA with two stages) with a stage-1 page descriptor.</summary>
    public ulong MapPage(ulong va, ulong oa, int ap = 0, bool nG = true, bool pxn = false, bool uxn = false, bool af = true,
        bool dbm = false, bool contiguous = false) =>
        S1.Set(va, 3, Descriptors.Stage1Leaf(oa, 3, Granule.K4, ap: ap, nG: nG, pxn: pxn, uxn: uxn, af: af, dbm: dbm, contiguous: contiguous));

    /// <summary>The PA where a table-space address of stage 1 is stored.</summary>
    public ulong TablePa(ulong tableAddress) => S1.TableToPhysical(tableAddress);

    public void Reg(SysReg reg, ulong value) => Exec(new TraceRecord { Op = TraceOp.Reg, Reg = reg, Value = value });

    /// <summary>A `mem` line: stores a word at a PA.</summary>
    public void Mem(ulong pa, ulong value) => Exec(new TraceRecord { Op = TraceOp.Mem, Address = pa, Value = value });

    public void El(byte el) => Exec(new TraceRecord { Op = TraceOp.El, Value = el });

    public void Tlbi(TlbiOp op, ulong xt = 0) => Exec(new TraceRecord { Op = TraceOp.Tlbi, Tlbi = op, Value = xt, HasOperand = true });

    public AccessOutcome R(ulong va, byte size = 8) => Access(TraceOp.Read, va, size);

    public AccessOutcome W(ulong va, byte size = 8) => Access(TraceOp.Write, va, size);

    public AccessOutcome X(ulong va) => Access(TraceOp.Fetch, va, 4);

    public AccessOutcome Access(TraceOp op, ulong va, byte size = 8)
    {
        var rec = new TraceRecord { Op = op, Address = va, Size = size, Line = ++_line };
        Assert.True(Core.Execute(in rec, out var o));
        return o;
    }

    private void Exec(TraceRecord rec)
    {
        rec.Line = ++_line;
        Core.Execute(in rec, out _);
    }

    /// <summary>A configuration from JSON text (the schema of --config).</summary>
    public static ModelConfig Config(string json) => ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "test.json");

    /// <summary>Replays trace text through a fresh core; returns the core and every outcome.</summary>
    public static async Task<(SimulatedCore Core, List<AccessOutcome> Outcomes)> ReplayText(string trace, ModelConfig config, bool checkStale = false)
    {
        var core = new SimulatedCore(config: config) { CheckStale = checkStale };
        var sink = new Collector();
        await new Replayer(core, sink).ReplayAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(trace)), "test.trace");
        return (core, sink.Outcomes);
    }

    /// <summary>Replays a trace file through a fresh core; returns the core and every outcome.</summary>
    public static async Task<(SimulatedCore Core, List<AccessOutcome> Outcomes)> ReplayFile(string path, ModelConfig config, bool checkStale = false,
        bool detailedRecord = true)
    {
        var core = new SimulatedCore(config: config) { CheckStale = checkStale };
        core.Mmu.Record.Detailed = detailedRecord;
        var sink = new Collector();
        await using var s = File.OpenRead(path);
        await new Replayer(core, sink).ReplayAsync(s, path);
        return (core, sink.Outcomes);
    }
}
