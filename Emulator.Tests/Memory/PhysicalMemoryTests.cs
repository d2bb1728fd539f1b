using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Tests.Support;
using MmuSim.Translation;

namespace MmuSim.Tests.Memory;

/// <summary>
/// The frame store behind every walk: words read back as written across many scattered frames (the hash table
/// grows), unwritten memory reads as zero, the walk-readable flag follows RAM regions declared before or after a frame
/// exists, regions that cover only part of a frame, and the epoch that tells a walker to drop its frame pointers.
/// </summary>
public sealed class PhysicalMemoryTests
{
    private static PhysicalAddress Pa(ulong v) => new(v);

    [Fact]
    public void ScatteredWordsReadBackAsWrittenAcrossTableGrowth()
    {
        var mem = new PhysicalMemory();
        var rng = new Random(7);
        var written = new Dictionary<ulong, ulong>();
        for (int i = 0; i < 20_000; i++)
        {
            ulong pa = ((ulong)rng.NextInt64(0, 1L << 40) & ~7UL) | ((ulong)rng.Next(0, 4) << 48);
            ulong v = (ulong)rng.NextInt64() | 1;
            mem.Write64(Pa(pa), v);
            written[pa] = v;
        }
        foreach (var (pa, v) in written)
        {
            Assert.Equal(v, mem.Peek64(Pa(pa)));
            Assert.True(mem.TryRead64(Pa(pa), out ulong r));
            Assert.Equal(v, r);
        }
        // Neighbouring words of a written frame and words of never-written frames read as zero.
        Assert.Equal(0UL, mem.Peek64(Pa(0xFFFF_FFFF_F000)));
        Assert.True(mem.TryRead64(Pa(0x000F_0000_0000_0000), out ulong z));
        Assert.Equal(0UL, z);
    }

    [Fact]
    public void WritingZeroToAnUnwrittenFrameAllocatesNothing()
    {
        var mem = new PhysicalMemory();
        mem.Write64(Pa(0x1000), 0);
        Assert.Equal(0, mem.AllocatedBytes);
        mem.Write64(Pa(0x1008), 5);
        Assert.Equal(4096, mem.AllocatedBytes);
        mem.Write64(Pa(0x1FF8), 6); // same frame
        Assert.Equal(4096, mem.AllocatedBytes);
    }

    [Fact]
    public void ConsecutiveWritesAcrossFramesAndAClearLandInTheRightFrame()
    {
        // Writes reuse the frame of the previous write; moving to another frame, or clearing memory, must not.
        var mem = new PhysicalMemory();
        mem.Write64(Pa(0x1FF8), 1);
        mem.Write64(Pa(0x2000), 2);
        mem.Write64(Pa(0x1FF0), 3);
        Assert.Equal((1UL, 2UL, 3UL), (mem.Peek64(Pa(0x1FF8)), mem.Peek64(Pa(0x2000)), mem.Peek64(Pa(0x1FF0))));
        mem.Clear();
        mem.Write64(Pa(0x1FE8), 4);
        Assert.Equal(0UL, mem.Peek64(Pa(0x1FF8)));
        Assert.Equal(4UL, mem.Peek64(Pa(0x1FE8)));
        Assert.Equal(4096, mem.AllocatedBytes);
    }

    [Fact]
    public void CapIsEnforcedPerFrame()
    {
        var mem = new PhysicalMemory { MaxBytes = 3 * 4096 };
        mem.Write64(Pa(0x0000), 1);
        mem.Write64(Pa(0x1000), 1);
        mem.Write64(Pa(0x2000), 1);
        var e = Assert.Throws<MemoryLimitException>(() => mem.Write64(Pa(0x3000), 1));
        Assert.Contains("--max-memory", e.Message);
        Assert.Equal(1UL, mem.Peek64(Pa(0x2000)));
    }

    [Fact]
    public unsafe void RamRegionsDecideWhatAWalkMayReadWhetherDeclaredBeforeOrAfterTheWrite()
    {
        var mem = new PhysicalMemory();
        mem.Write64(Pa(0x10_0008), 11); // before any region: readable
        Assert.True(mem.FrameForWalk(0x100) != null);
        int epoch = mem.Epoch;
        mem.DeclareRam(Pa(0x20_0000), 0x10_0000);
        Assert.NotEqual(epoch, mem.Epoch);
        // The frame written earlier is now outside RAM: no fast pointer, and the read is refused.
        Assert.True(mem.FrameForWalk(0x100) == null);
        Assert.False(mem.TryRead64(Pa(0x10_0008), out _));
        Assert.Equal(11UL, mem.Peek64(Pa(0x10_0008))); // dump still sees it
        // A frame written inside RAM after the declaration is readable; an unwritten RAM word reads as zero.
        mem.Write64(Pa(0x20_1000), 22);
        Assert.True(mem.FrameForWalk(0x201) != null);
        Assert.True(mem.TryRead64(Pa(0x2F_FFF8), out ulong z) && z == 0);
        Assert.False(mem.TryRead64(Pa(0x30_0000), out _));
        // Declaring the old frame's range later makes it readable again.
        mem.DeclareRam(Pa(0x10_0000), 0x1000);
        Assert.True(mem.TryRead64(Pa(0x10_0008), out ulong v) && v == 11);
    }

    [Fact]
    public unsafe void ARegionCoveringPartOfAFrameIsCheckedPerWord()
    {
        var mem = new PhysicalMemory();
        mem.DeclareRam(Pa(0x5_0800), 0x1000); // half of frame 0x50, half of frame 0x51
        mem.Write64(Pa(0x5_0000), 1);
        mem.Write64(Pa(0x5_0800), 2);
        mem.Write64(Pa(0x5_1000), 3);
        mem.Write64(Pa(0x5_1800), 4);
        Assert.True(mem.FrameForWalk(0x50) == null); // not whole-frame readable: slow, exact path
        Assert.False(mem.TryRead64(Pa(0x5_0000), out _));
        Assert.True(mem.TryRead64(Pa(0x5_0800), out ulong a) && a == 2);
        Assert.True(mem.TryRead64(Pa(0x5_1000), out ulong b) && b == 3);
        Assert.False(mem.TryRead64(Pa(0x5_1800), out _));
    }

    [Fact]
    public void ClearForgetsContentsRegionsAndAdvancesTheEpoch()
    {
        var mem = new PhysicalMemory();
        mem.DeclareRam(Pa(0), 0x1000);
        mem.Write64(Pa(8), 9);
        int epoch = mem.Epoch;
        mem.Clear();
        Assert.NotEqual(epoch, mem.Epoch);
        Assert.Equal(0, mem.AllocatedBytes);
        Assert.Empty(mem.RamRegions);
        Assert.Equal(0UL, mem.Peek64(Pa(8)));
        Assert.True(mem.TryRead64(Pa(0x9000), out _)); // no region: everything readable again
    }

    [Fact]
    public void AWalkThatCachedATableFrameSeesRamDeclaredLater()
    {
        // The walker keeps frame pointers between walks; a region declared afterwards that leaves the table page
        // outside RAM must turn the next walk into an external abort, not a read through the stale pointer.
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.MapS1(0x4000_0000, 0x8000_0000);
        Expect.Pa(s.Translate(0x4000_0000), 0x8000_0000);
        s.Memory.DeclareRam(Pa(0x9000_0000), 0x1000_0000);
        Expect.Fault(s.Translate(0x4000_0000), FaultType.ExternalWalk, 1, Scenario.Stage1StartLevel(Granule.K4, 48));
    }
}
