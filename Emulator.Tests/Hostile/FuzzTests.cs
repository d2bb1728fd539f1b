using System.Text;
using CsCheck;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Hypervisor;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Property-based fuzzing (CsCheck) of every input the tool parses, from structure-aware generators: text traces
/// built from the format's own words with hostile tokens mixed in, binary traces of well-formed and damaged records,
/// model configurations of known and unknown keys with extreme values, and cell configurations with the real demo's
/// bytes damaged. The property: the only exceptions are the documented bad-input ones (a trace format error, a
/// configuration error, the memory cap), never a crash. Each runs for a fixed budget of seconds (CsCheck's time
/// limit), so CI time stays bounded; a failing case prints its seed, and is kept below as a regression case.
/// </summary>
public sealed class FuzzTests
{
    /// <summary>Seconds each property runs; MMUSIM_FUZZ_SECONDS raises it for a long local run.</summary>
    private static int Budget => int.TryParse(Environment.GetEnvironmentVariable("MMUSIM_FUZZ_SECONDS"), out int s) && s > 0 ? s : 3;

    private static readonly string[] Keywords =
    [
        "R", "W", "X", "r", "w", "x", "reg", "mem", "ram", "el", "at", "dump", "tlbi", "pstate", "cpu", "dsb", "isb", "ldtr", "sttr",
        "#", "#@mmusim-setup", "//", "", "RR", "regg",
    ];

    private static readonly string[] Names =
    [
        "SCTLR_EL1", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "HCR_EL2", "VTCR_EL2", "VTTBR_EL2", "TCR_EL2", "SCTLR_EL2",
        "S1E1R", "S12E0W", "VAE1", "VMALLE1IS", "ALLE2", "IPAS2E1", "RVAE1", "PAN", "ISH", "SY", "NOSUCH",
    ];

    private static readonly string[] Numbers =
    [
        "0", "1", "2", "8", "64", "65", "0x1000", "0x40000000", "0xffffffffffffffff", "0x10000000000000000", "18446744073709551616",
        "-1", "0x", "0xg", "0x0000000000000000000000001", "1e3", "0b101", "0x7", "0xfffffffffffff000", "4096",
        "0x280803510", "0x30d01005", "0xff", "0x40000003", "0x40001703",
    ];

    private static readonly Gen<string> Token = Gen.Frequency(
        (6, Gen.OneOf(Numbers)),
        (3, Gen.OneOf(Names)),
        (1, Gen.String[Gen.Char['\0', '\u00ff'], 0, 12]),
        (1, Gen.OneOf("\u001b]0;x\u0007", "\r", "\t", "\u2028", "\u00ff\u00fe", new string('9', 40))));

    private static readonly Gen<string> Line =
        Gen.Select(Gen.OneOf(Keywords), Token.Array[0, 6], Gen.OneOf(" ", "  ", "\t", " \t"),
            (k, args, sep) => k + (args.Length == 0 ? "" : sep + string.Join(sep, args)));

    /// <summary>A few real set-up lines first (so walks happen), then generated lines.</summary>
    private static readonly Gen<string> TextTrace = Line.Array[1, 40].Select(lines =>
        "ram 0x40000000 0x100000\nreg MAIR_EL1 0xff\nreg TCR_EL1 0x280803510\nreg TTBR0_EL1 0x40000000\nmem 0x40000000 0x40001003\n"
        + "mem 0x40001000 0x40002003\nmem 0x40002000 0x40003003\nmem 0x40003000 0x40000743\nreg SCTLR_EL1 0x30d01005\n"
        + string.Join("\n", lines) + "\n");

    private static void Replay(byte[] bytes, string source, TraceFormat format = TraceFormat.Auto, DemandPagingMode paging = DemandPagingMode.Auto)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = 16 << 20 }) { CheckStale = true };
        var replayer = new Replayer(core, new Collector(), new ReplayOptions { Format = format, DemandPaging = paging });
        try
        {
            replayer.ReplayAsync(new MemoryStream(bytes), source).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is TraceFormatException or MemoryLimitException)
        {
            // Documented bad input: a one-line error the command prints (exit 2 or 3).
        }
    }

    [Fact]
    public void TextTracesFailOnlyWithTraceErrors() =>
        TextTrace.Sample(t => Replay(Encoding.Latin1.GetBytes(t), "fuzz.trace", TraceFormat.Text), time: Budget, threads: 1);

    private static readonly Gen<byte[]> BinaryRecord = Gen.Frequency(
        // A well-formed access or command head (tags 1..0x1a), sizes and counts in and out of range.
        (8, Gen.Select(Gen.Byte[0, 0x1b], Gen.OneOf<byte>(0, 1, 4, 8, 64, 65, 255), Gen.Byte[0, 2], Gen.OneOf(0u, 1u, 2u, 3u, 0xFFFF_FFFFu), Gen.ULong,
            (tag, a, b, n, x) =>
            {
                var r = new byte[16 + 8 * (int)Math.Min(n, 3u)];
                r[0] = tag;
                r[1] = a;
                r[2] = b;
                BitConverter.TryWriteBytes(r.AsSpan(4), n);
                BitConverter.TryWriteBytes(r.AsSpan(8), tag == 0x11 ? x & ~7UL : x);
                return r;
            })),
        (1, Gen.Byte.Array[0, 24]));

    private static readonly Gen<byte[]> BinaryTrace = BinaryRecord.Array[0, 30].Select(records =>
    {
        var bytes = new List<byte>(MmuSim.Tracing.BinaryTrace.Magic.ToArray()) { 1, 0, 16, 0, 0, 0, 0, 0 };
        foreach (var r in records)
        {
            bytes.AddRange(r);
        }
        return bytes.ToArray();
    });

    [Fact]
    public void BinaryTracesFailOnlyWithTraceErrors() =>
        BinaryTrace.Sample(b => Replay(b, "fuzz.bin", TraceFormat.Binary, DemandPagingMode.On), time: Budget, threads: 1);

    private static readonly string[] ConfigKeys =
        ["name", "tlbs", "walkCaches", "ipaCache", "walkerCaches", "memoryLatency", "coalesceContiguous", "modelDataCaches", "serves", "entries", "ways",
         "latency", "policy", "seed", "stage", "levels", "sizeBytes", "lineBytes", "bogus"];

    private static readonly Gen<string> JsonScalar = Gen.OneOf(
        "0", "1", "-1", "3", "16", "48", "1280", "4194304", "16777216", "2147483648", "9223372036854775807", "1e400", "0.5", "true", "null",
        "\"data\"", "\"unified\"", "\"lru\"", "\"random\"", "\"plru\"", "\"x\\u001b\"", "[]", "[-1, 0, 1, 2]", "[3]", "{}");

    private static readonly Gen<string> JsonObject = Gen.Recursive<string>((depth, self) =>
        Gen.Select(Gen.OneOf(ConfigKeys), depth < 3 ? Gen.Frequency((4, JsonScalar), (1, self), (1, self.Array[0, 3].Select(a => "[" + string.Join(",", a) + "]"))) : JsonScalar,
                (k, v) => $"\"{k}\": {v}").Array[0, 8].Select(members => "{" + string.Join(", ", members) + "}"));

    [Fact]
    public void ModelConfigurationsFailOnlyWithConfigErrors() =>
        JsonObject.Sample(json =>
        {
            try
            {
                ModelConfigJson.Parse(Encoding.UTF8.GetBytes(json), "fuzz.json");
            }
            catch (ConfigException)
            {
            }
        }, time: Budget, threads: 1);

    private static readonly byte[] DemoCell = File.ReadAllBytes(Path.Combine(TestPaths.Traces, "cells", "linux-demo.json"));

    /// <summary>The demo cell with a few bytes replaced, removed or duplicated, or a number swapped for an extreme one.</summary>
    private static readonly Gen<byte[]> DamagedCell = Gen.Select(Gen.Int[0, DemoCell.Length - 1].Array[1, 4], Gen.Int[0, 4], Gen.Byte,
        (at, how, b) =>
        {
            var bytes = new List<byte>(DemoCell);
            foreach (int i in at.OrderByDescending(i => i))
            {
                int p = Math.Min(i, bytes.Count - 1);
                switch (how)
                {
                    case 0: bytes[p] = b; break;
                    case 1: bytes.RemoveAt(p); break;
                    case 2: bytes.InsertRange(p, bytes.GetRange(p, Math.Min(16, bytes.Count - p))); break;
                    case 3: bytes.InsertRange(p, "0xffffffffffffffff"u8.ToArray()); break;
                    default: bytes.InsertRange(p, "\"\\u001b\","u8.ToArray()); break;
                }
            }
            return bytes.ToArray();
        });

    [Fact]
    public void CellConfigurationsFailOnlyWithConfigErrors() =>
        DamagedCell.Sample(bytes =>
        {
            try
            {
                CellConfigLoader.ParseCell(bytes, "fuzz.json");
            }
            catch (ConfigException)
            {
            }
        }, time: Budget, threads: 1);
}
