using System.Text.RegularExpressions;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// docs/binary-format.md against the enums whose values are its codes: every record tag, register, AT and TLBI code
/// the document lists is the value of the member of that name, and every member is listed (both directions).
/// </summary>
public class BinaryFormatDocTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(TestPaths.Docs, "binary-format.md"));

    /// <summary>The `- LABEL: 0 NAME, 1 NAME, …;` list of codes under "Codes".</summary>
    private static Dictionary<string, int> CodeList(string label)
    {
        var m = Regex.Match(Doc, $@"^- {label}: (?<list>[^;.]*)[;.]", RegexOptions.Multiline);
        Assert.True(m.Success, $"no '- {label}:' list in docs/binary-format.md");
        var codes = new Dictionary<string, int>();
        foreach (Match pair in Regex.Matches(m.Groups["list"].Value, @"(\d+) ([A-Z0-9_]+)"))
        {
            codes.Add(pair.Groups[2].Value, int.Parse(pair.Groups[1].Value));
        }
        Assert.NotEmpty(codes);
        return codes;
    }

    private static void SameAsEnum<T>(Dictionary<string, int> doc)
        where T : struct, Enum
    {
        var code = Enum.GetValues<T>().ToDictionary(v => v.ToString(), v => (int)Convert.ToByte(v));
        Assert.Equal(code.OrderBy(kv => kv.Value), doc.OrderBy(kv => kv.Value));
    }

    [Fact]
    public void RegisterCodesAreTheSysRegValues() => SameAsEnum<SysReg>(CodeList("registers"));

    [Fact]
    public void AtCodesAreTheAtOpValues() => SameAsEnum<AtOp>(CodeList("AT"));

    [Fact]
    public void TlbiCodesAreTheTlbiOpValues() => SameAsEnum<TlbiOp>(CodeList("TLBI"));

    [Fact]
    public void DsbCodesAreTheDsbOptionValues() => SameAsEnum<DsbOption>(CodeList("DSB"));

    /// <summary>
    /// The record table's `| 0xNN | COMMAND ...` rows: the tag of each command keyword. Each TraceOp's keyword is the
    /// one the text writer spells it with, so the table, the enum and the text format agree.
    /// </summary>
    [Fact]
    public void RecordTagsAreTheTraceOpValues()
    {
        var doc = new Dictionary<string, int>();
        foreach (Match row in Regex.Matches(Doc, @"^\| `0x(?<tag>[0-9a-fA-F]{2})` \| `(?<keyword>[A-Za-z]+)[ `]", RegexOptions.Multiline))
        {
            doc.Add(row.Groups["keyword"].Value, Convert.ToInt32(row.Groups["tag"].Value, 16));
        }
        var code = Enum.GetValues<TraceOp>().ToDictionary(Keyword, op => (int)op);
        Assert.Equal(19, code.Count);
        Assert.Equal(code.OrderBy(kv => kv.Value), doc.OrderBy(kv => kv.Value));
    }

    /// <summary>The text format's keyword of a command, as <see cref="TextTraceWriter"/> writes it.</summary>
    private static string Keyword(TraceOp op)
    {
        var s = new MemoryStream();
        using (var w = new TextTraceWriter(s, ownsStream: false))
        {
            w.OnRecord(new TraceRecord
            {
                Op = op, Size = 8, Value = op == TraceOp.Ram ? 0x1000UL : 0,
                Image = op == TraceOp.Load ? new ImageLoad { Address = 0, File = "a.img", Source = "-" } : null,
            });
        }
        string line = System.Text.Encoding.ASCII.GetString(s.ToArray());
        return line[..line.IndexOfAny([' ', '\n'])];
    }

    /// <summary>The binary reader takes exactly the documented codes: each one round-trips, the next one up is refused.</summary>
    [Fact]
    public void ReaderAcceptsExactlyTheDocumentedCodes()
    {
        foreach (var (name, c) in CodeList("registers"))
        {
            Assert.Equal(name, RoundTrip(new TraceRecord { Op = TraceOp.Reg, Reg = (SysReg)c, Value = 1 }).Reg.ToString());
        }
        foreach (var (name, c) in CodeList("AT"))
        {
            Assert.Equal(name, RoundTrip(new TraceRecord { Op = TraceOp.At, At = (AtOp)c, Address = 0x1000 }).At.ToString());
        }
        foreach (var (name, c) in CodeList("TLBI"))
        {
            Assert.Equal(name, RoundTrip(new TraceRecord { Op = TraceOp.Tlbi, Tlbi = (TlbiOp)c }).Tlbi.ToString());
        }
        foreach (var (name, c) in CodeList("DSB"))
        {
            Assert.Equal(name, RoundTrip(new TraceRecord { Op = TraceOp.Dsb, Dsb = (DsbOption)c }).Dsb.ToString());
        }
        Assert.Contains("unknown register code", Refused(TraceOp.Reg, CodeList("registers").Values.Max() + 1));
        Assert.Contains("unknown AT operation code", Refused(TraceOp.At, CodeList("AT").Values.Max() + 1));
        Assert.Contains("unknown TLBI operation code", Refused(TraceOp.Tlbi, CodeList("TLBI").Values.Max() + 1));
        Assert.Contains("unknown DSB option code", Refused(TraceOp.Dsb, CodeList("DSB").Values.Max() + 1));
        Assert.Contains("unknown DSB option code", Refused(TraceOp.Dsb, 0));
    }

    private static TraceRecord RoundTrip(TraceRecord rec)
    {
        var s = new MemoryStream();
        using (var w = new BinaryTraceWriter(s, ownsStream: false))
        {
            w.OnRecord(rec);
        }
        var got = Parse(s.ToArray());
        return Assert.Single(got);
    }

    private static List<TraceRecord> Parse(byte[] bytes)
    {
        var sink = new RecordList();
        using var input = TraceInput.Open(new MemoryStream(bytes), "t.mbt");
        TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        return sink.Records;
    }

    private static string Refused(TraceOp op, int code)
    {
        var bytes = new byte[BinaryTrace.HeaderSize + BinaryTrace.RecordSize];
        BinaryTrace.WriteHeader(bytes);
        bytes[BinaryTrace.HeaderSize] = (byte)op;
        bytes[BinaryTrace.HeaderSize + 1] = (byte)code;
        return Assert.Throws<TraceFormatException>(() => Parse(bytes)).Reason;
    }
}
