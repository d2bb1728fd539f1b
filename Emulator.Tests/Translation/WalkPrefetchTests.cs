using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// The walker's prefetch hints: where a walk found the last-level tables of a 2 MiB block, so that a replay can ask
/// the host to load the next accesses' descriptors early. A hint may be stale, but it must name the frame the walk
/// really read, never outlive the memory it points to, and never change what a replay computes.
/// </summary>
public class WalkPrefetchTests
{
    private static Scenario Nested(Granule s1 = Granule.K4)
    {
        var s = new Scenario().WithStage2(Granule.K4, 24, startLevel: 0);
        s.WithStage1(s1, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS2(Oa1, 0x6000_0000);
        return s;
    }

    private static unsafe nuint HostFrame(PhysicalMemory memory, ulong pa) => (nuint)memory.FrameForWalk(pa >> PhysicalMemory.FrameShift);

    [Fact]
    public void ANestedWalkNotesTheFramesOfBothLastLevelTables()
    {
        var s = Nested();
        Expect.Ok(s.Translate(LowVa + 0x123));
        // Stage 1: the level-3 table, by its PA (stage 2 maps table IPAs at a fixed offset), and its IPA.
        ulong l3Ipa = s.Lower!.DescriptorAddress(LowVa, 3) & ~0xFFFUL;
        var (frame, tableIpa) = s.Mmu.Stage1HintFor(LowVa);
        Assert.NotEqual((nuint)0, frame);
        Assert.Equal(HostFrame(s.Memory, l3Ipa + Scenario.S1TableIpaToPa), frame);
        Assert.Equal(l3Ipa, tableIpa);
        // Stage 2: the level-3 table of the final IPA, and of the stage-1 table's IPA (from its S1PTW walk).
        Assert.Equal(HostFrame(s.Memory, Scenario.Phys(s.Stage2!, s.Stage2!.DescriptorAddress(Oa1, 3))), s.Mmu.Stage2HintFor(Oa1));
        Assert.Equal(HostFrame(s.Memory, Scenario.Phys(s.Stage2!, s.Stage2!.DescriptorAddress(l3Ipa, 3))), s.Mmu.Stage2HintFor(l3Ipa));
        // Blocks no walk went through have no hint.
        Assert.Equal((nuint)0, s.Mmu.Stage1HintFor(LowVa + 0x20_0000).Frame);
    }

    [Fact]
    public void AStage1OnlyWalkNotesNoTableIpa()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, Oa1);
        Expect.Ok(s.Translate(LowVa));
        var (frame, tableIpa) = s.Mmu.Stage1HintFor(LowVa);
        Assert.Equal(HostFrame(s.Memory, s.Lower!.DescriptorAddress(LowVa, 3)), frame);
        Assert.Equal(0UL, tableIpa);
    }

    [Theory]
    [InlineData(Granule.K16)]
    [InlineData(Granule.K64)]
    public void TablesOfOtherGranulesGetNoHint(Granule g)
    {
        // A 16K or 64K table spans several host frames: an index into one frame would be wrong.
        var s = Nested(g);
        Expect.Ok(s.Translate(LowVa));
        Assert.Equal((nuint)0, s.Mmu.Stage1HintFor(LowVa).Frame);
        Assert.NotEqual((nuint)0, s.Mmu.Stage2HintFor(Oa1)); // stage 2 is still 4K
    }

    [Fact]
    public void HintsAreForgottenWhenTheirFramesMayBeReleased()
    {
        var s = Nested();
        Expect.Ok(s.Translate(LowVa));
        s.Mmu.PrefetchFar(LowVa); // the epoch the hints were noted in
        Assert.NotEqual((nuint)0, s.Mmu.Stage1HintFor(LowVa).Frame);
        // Clearing memory releases every frame: the next prefetch must not read through a hint.
        s.Memory.Clear();
        s.Mmu.PrefetchNear(LowVa);
        s.Mmu.PrefetchFar(LowVa);
        Assert.Equal((nuint)0, s.Mmu.Stage1HintFor(LowVa).Frame);
        Assert.Equal((nuint)0, s.Mmu.Stage2HintFor(Oa1));
    }

    [Fact]
    public void AWalkInANewEpochNotesNothingUntilTheHintsAreReset()
    {
        var s = Nested();
        s.Mmu.PrefetchFar(LowVa);
        s.Memory.DeclareRam(new PhysicalAddress(0), 1UL << 40); // new epoch: frame pointers may have changed meaning
        Expect.Ok(s.Translate(LowVa));
        Assert.Equal((nuint)0, s.Mmu.Stage1HintFor(LowVa).Frame);
        s.Mmu.PrefetchFar(LowVa); // resets the hints for this epoch
        Expect.Ok(s.Translate(LowVa));
        Assert.NotEqual((nuint)0, s.Mmu.Stage1HintFor(LowVa).Frame);
    }

    /// <summary>
    /// The bundled yardstick traces (one and two stages, ASID switches, TLBIs, table rewrites) replayed without
    /// results, as the CLI does, with prefetching on and off: every figure must match, and the walks must have left
    /// hints (so the prefetches ran).
    /// </summary>
    [Theory]
    [InlineData("mixed-2stage")]
    [InlineData("mixed-1stage")]
    [InlineData("zipf-asids-tlbi")]
    public async Task PrefetchingChangesNoFigure(string name)
    {
        string path = Path.Combine(TestPaths.Traces, "bench", name + ".trace");
        foreach (var config in new[] { Presets.Bench, Presets.Uncached, Presets.NeoverseN1 })
        {
            var on = new SimulatedCore(config: config) { PrefetchWalks = true };
            var off = new SimulatedCore(config: config) { PrefetchWalks = false };
            foreach (var core in new[] { on, off })
            {
                core.Mmu.Record.Detailed = false; // as the CLI replays without results
                await new Replayer(core, sink: null).ReplayFilesAsync([path]);
            }
            Assert.Equal(Summary(off), Summary(on));
            Assert.True(on.Stats.Walks > 100, $"{name} under {config.Name}: {on.Stats.Walks} walks");
        }
        if (Mmu.CanPrefetch)
        {
            string lastRead = File.ReadLines(path).Last(l => l.StartsWith("R ", StringComparison.Ordinal));
            ulong va = Convert.ToUInt64(lastRead.Split(' ')[1], 16);
            var core = new SimulatedCore(config: Presets.Bench);
            await new Replayer(core, sink: null).ReplayFilesAsync([path]);
            Assert.NotEqual((nuint)0, core.Mmu.Stage1HintFor(va).Frame);
        }
    }

    private static string Summary(SimulatedCore core)
    {
        var ms = new MemoryStream();
        MmuSim.Reporting.SummaryJson.Write(ms, core, stoppedOnFault: false);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
