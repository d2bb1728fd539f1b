using System.Globalization;
using System.Text;
using MmuSim.Core;
using MmuSim.Tests.Support;
using MmuSim.Timing;
using MmuSim.Tracing;

namespace MmuSim.Tests.Core;

/// <summary>
/// The experiment of docs/translation-cost.md ("The timeline: an experiment"): average cycles per access of a
/// pointer chase and of a stream over growing footprints, under neoverse-n1 and cortex-a55, with both timing models.
/// The test checks the shape the page describes (where each TLB's reach ends, and what overlap does to the stream),
/// not the figures themselves.
/// </summary>
public class TimelineExperimentTests
{
    /// <summary>Footprints in KiB: either side of each preset's L1 and L2 TLB reach (N1 192 KiB / 5 MiB, A55 64 KiB / 4 MiB).</summary>
    public static readonly int[] FootprintsKiB = [32, 128, 512, 2048, 8192, 32768];

    public enum Pattern
    {
        /// <summary>Random pages in a chain: each load needs the previous one's data, so nothing overlaps (a window of one).</summary>
        PointerChase,
        /// <summary>Sequential, 256 bytes apart (16 accesses a page), independent: the preset's own window.</summary>
        Stream,
    }

    public readonly record struct Point(double Additive, double Timeline);

    /// <summary>
    /// One cell: a single-stage 4K mapping of the footprint, one pass to warm it, then a measured pass (the chase: 8192
    /// accesses; the stream: the whole footprint) timed by both models.
    /// </summary>
    public static Point Measure(ModelConfig preset, Pattern pattern, int footprintKiB)
    {
        var timeline = preset.Timing.TimelineOrSerial;
        if (pattern == Pattern.PointerChase)
        {
            timeline = timeline with { Window = 1 };
        }
        var config = preset with { Timing = preset.Timing with { Timeline = timeline } };
        var m = new Machine(config);
        int pages = footprintKiB / 4;
        const ulong Base = 0x10_0000_0000;
        for (int p = 0; p < pages; p++)
        {
            m.MapPage(Base + (ulong)p * 0x1000, 0x1_0000_0000 + (ulong)p * 0x1000);
        }
        m.Core.StartTimeline();
        var t = m.Core.Timeline!;
        var rng = new Random(footprintKiB);
        ulong Next(int i) => pattern == Pattern.PointerChase
            ? Base + (ulong)rng.Next(pages) * 0x1000 + (ulong)rng.Next(64) * 64
            : Base + (ulong)i * 256 % ((ulong)pages * 0x1000);
        int n = pattern == Pattern.PointerChase ? 8192 : pages * 16;
        for (int i = 0; i < n; i++)
        {
            Access(m, t, Next(i));
        }
        long cycles0 = m.Core.Stats.TranslationCycles, first = 0;
        for (int i = 0; i < n; i++)
        {
            Access(m, t, Next(i));
            if (i == 0)
            {
                first = t.LastIssue;
            }
        }
        // The timeline's cost: from the measured pass's first issue to its last retirement.
        return new Point((double)(m.Core.Stats.TranslationCycles - cycles0) / n, (double)(t.LastRetire - first) / n);
    }

    private static void Access(Machine m, PeTimeline t, ulong va)
    {
        t.BeginAccess(m.Line);
        m.Access(TraceOp.Read, va);
        t.EndAccess();
    }

    /// <summary>The table of the page: one row per footprint, per preset and pattern the two models.</summary>
    public static string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| footprint | N1 chase additive | N1 chase timeline | N1 stream additive | N1 stream timeline | A55 chase additive | A55 chase timeline | A55 stream additive | A55 stream timeline |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int kib in FootprintsKiB)
        {
            sb.Append(kib >= 1024 ? $"| {kib / 1024} MiB |" : $"| {kib} KiB |");
            foreach (var preset in new[] { Presets.NeoverseN1, Presets.CortexA55 })
            {
                foreach (var pattern in new[] { Pattern.PointerChase, Pattern.Stream })
                {
                    var p = Measure(preset, pattern, kib);
                    sb.Append(CultureInfo.InvariantCulture, $" {p.Additive:0.00} | {p.Timeline:0.00} |");
                }
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    [Fact]
    public void ChaseStepsWhereEachTlbReachEnds()
    {
        foreach (var (preset, l1ReachKiB, l2ReachKiB) in new[] { (Presets.NeoverseN1, 192, 5120), (Presets.CortexA55, 64, 4096) })
        {
            var cpa = FootprintsKiB.Select(k => Measure(preset, Pattern.PointerChase, k)).ToArray();
            for (int i = 0; i < FootprintsKiB.Length; i++)
            {
                int k = FootprintsKiB[i];
                // Within the L1 TLB's reach every access is a 1-cycle hit; beyond it, L2 hits; beyond the L2, walks.
                if (k <= l1ReachKiB)
                {
                    Assert.Equal(1.0, cpa[i].Additive);
                }
                else if (k <= l2ReachKiB / 2)
                {
                    Assert.InRange(cpa[i].Additive, 1.5, 4.0);
                }
                else if (k > l2ReachKiB)
                {
                    // Walks (cheap ones: the walk caches and the L1 data cache hold most of a 32 MiB footprint's tables).
                    Assert.True(cpa[i].Additive > cpa[Array.IndexOf(FootprintsKiB, 2048)].Additive + 1, $"{preset.Name} {k} KiB: {cpa[i].Additive}");
                }
                // A chase cannot overlap: the timeline adds at most the issue interval to each access.
                Assert.InRange(cpa[i].Timeline - cpa[i].Additive, 0.0, 1.0);
            }
            // Steps, not a slope: each footprint costs at least what the one below it did.
            for (int i = 1; i < cpa.Length; i++)
            {
                Assert.True(cpa[i].Additive >= cpa[i - 1].Additive - 0.01, $"{preset.Name}: {FootprintsKiB[i]} KiB cheaper than {FootprintsKiB[i - 1]} KiB");
            }
        }
    }

    [Fact]
    public void OverlapHidesMostOfTheStreamsWalks()
    {
        foreach (var preset in new[] { Presets.NeoverseN1, Presets.CortexA55 })
        {
            var big = Measure(preset, Pattern.Stream, FootprintsKiB[^1]);
            var small = Measure(preset, Pattern.Stream, FootprintsKiB[0]);
            // Beyond the L2 TLB every 16th access walks: the additive model pays each walk in full...
            Assert.True(big.Additive > small.Additive + 0.3, $"{preset.Name}: {big.Additive} vs {small.Additive}");
            // ...while on the timeline the accesses behind a miss keep issuing, so the stream costs less: on the N1
            // (window 128, two walkers) the walks vanish behind the one-access-a-cycle issue; the A55's window of 4
            // hides only part of them.
            Assert.True(big.Timeline < big.Additive, $"{preset.Name}: timeline {big.Timeline} vs additive {big.Additive}");
            if (preset == Presets.NeoverseN1)
            {
                Assert.True(big.Timeline < 1.1, $"timeline {big.Timeline}");
            }
            // Within the L1 reach both are one access a cycle.
            Assert.Equal(1.0, small.Additive);
            Assert.Equal(1.0, small.Timeline, 2);
        }
    }

    /// <summary>Prints the table for the page (run by hand: MMUSIM_PRINT_EXPERIMENT=1).</summary>
    [Fact]
    public void TableHasARowPerFootprint()
    {
        if (Environment.GetEnvironmentVariable("MMUSIM_PRINT_EXPERIMENT") != "1")
        {
            // The whole table takes a while; its shape is checked above. Its form is checked on two rows here.
            var row = Measure(Presets.NeoverseN1, Pattern.PointerChase, 32);
            Assert.Equal(new Point(1.0, 1.0), row);
            return;
        }
        string table = Table();
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "mmusim-timeline-experiment.md"), table);
        Assert.Equal(FootprintsKiB.Length + 2, table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
