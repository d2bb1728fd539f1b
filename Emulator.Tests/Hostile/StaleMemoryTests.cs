using MmuSim.Core;
using MmuSim.Memory;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// `--check-stale` remembers which line last changed each word, within the memory cap: stores of the value already
/// there (zeros over unwritten memory above all) are not remembered, and the words remembered count against
/// `--max-memory` together with memory, so a flood of `mem` lines ends in the documented memory-limit error.
/// </summary>
public sealed class StaleMemoryTests
{
    private static SimulatedSystem System(long maxBytes, out StaleChecker stale)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = maxBytes }) { CheckStale = true };
        stale = core.Stale!;
        return core.System;
    }

    [Fact]
    public void ZerosOverUnwrittenMemoryAreNotRemembered()
    {
        var system = System(1 << 20, out var stale);
        var zeros = new ulong[512];
        for (ulong f = 0; f < 10_000; f++)
        {
            system.WriteMemoryWords(f << 12, zeros, (long)f + 1);
        }
        Assert.Equal(0, stale.WordsRemembered);
        Assert.Equal(0, system.Memory.AllocatedBytes);
        system.WriteMemory(0x1000, 5, 1);
        system.WriteMemory(0x1000, 5, 2); // the same value again: nothing changed
        system.WriteMemory(0x1000, 0, 3); // a zero over a descriptor does change it
        Assert.Equal(1, stale.WordsRemembered);
    }

    [Fact]
    public void RememberedWordsCountAgainstTheMemoryCap()
    {
        var system = System(64 << 10, out var stale);
        var words = Enumerable.Range(1, 512).Select(i => (ulong)i).ToArray();
        var e = Assert.Throws<MemoryLimitException>(() =>
        {
            for (ulong f = 0; f < 16; f++)
            {
                system.WriteMemoryWords(f << 12, words, (long)f + 1);
            }
        });
        // 4 KiB of memory and 512 · 28 bytes remembered per frame: the cap is reached in the fourth frame.
        Assert.Equal(4 * 4096, system.Memory.AllocatedBytes);
        Assert.Equal($"simulated memory and --check-stale's {stale.WordsRemembered} remembered words would exceed the cap of 65536 bytes (raise it with --max-memory)", e.Message);
        Assert.True(system.Memory.AllocatedBytes + (long)(stale.WordsRemembered - 1) * StaleChecker.BytesPerWord <= 64 << 10);
    }
}
