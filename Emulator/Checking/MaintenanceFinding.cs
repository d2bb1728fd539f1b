using System.Text;
using MmuSim.Core;
using MmuSim.Faults;

namespace MmuSim.Checking;

/// <summary>The four kinds of finding of the trace format ("Findings of the TLB-maintenance checker").</summary>
public enum FindingKind : byte
{
    StaleTranslation,
    UnorderedWrite,
    UnsynchronizedContext,
    BreakBeforeMake,
}

/// <summary>One outcome of an access: an output address, or a fault (type, stage, level, S1PTW).</summary>
public readonly record struct AccessResult(bool Ok, ulong Pa, FaultInfo Fault)
{
    public static AccessResult Of(in AccessOutcome o) => new(!o.IsFault, o.IsFault ? 0 : o.Pa, o.Fault);

    /// <summary>The same outcome: the same PA, or a fault of the same type, stage, level and S1PTW.</summary>
    public bool SameAs(in AccessResult other) => Ok == other.Ok && (Ok
        ? Pa == other.Pa
        : Fault.Type == other.Fault.Type && Fault.Stage == other.Fault.Stage && Fault.Level == other.Fault.Level && Fault.S1Ptw == other.Fault.S1Ptw);

    public override string ToString() => Ok ? $"PA 0x{Pa:x}"
        : $"{FaultInfo.TypeName(Fault.Type)} fault, stage {Fault.Stage}{(Fault.HasLevel ? $", level {Fault.Level}" : "")}{(Fault.S1Ptw ? ", s1ptw" : "")}";
}

/// <summary>
/// A finding of the TLB-maintenance checker, with the fields the trace format names: the line that may misbehave on
/// hardware and its PE, the line it is about (<see cref="Cause"/>), the outcome the replay gave and one hardware may
/// give instead, and the fix in instructions.
/// </summary>
public sealed record MaintenanceFinding(FindingKind Kind, bool Error, long Line, int Cpu, bool IsAccess, ulong Va, byte El,
    long Cause, AccessResult Replayed, AccessResult? Possible, string Fix)
{
    /// <summary>The events behind the finding, in trace order (for explain): the store or register write, the barriers and TLBIs after it.</summary>
    public IReadOnlyList<string> Chain { get; init; } = [];

    public static string KindName(FindingKind kind) => kind switch
    {
        FindingKind.StaleTranslation => "stale-translation",
        FindingKind.UnorderedWrite => "unordered-write",
        FindingKind.UnsynchronizedContext => "unsynchronized-context",
        _ => "break-before-make",
    };

    /// <summary>One JSON object (a line of the findings file), fields in the order the trace format lists them.</summary>
    public string ToJson()
    {
        var sb = new StringBuilder(256);
        sb.Append("{\"kind\":\"").Append(KindName(Kind)).Append("\",\"severity\":\"").Append(Error ? "error" : "note").Append('"');
        sb.Append(",\"line\":").Append(Line).Append(",\"cpu\":").Append(Cpu);
        if (IsAccess)
        {
            sb.Append(",\"va\":\"0x").Append(Va.ToString("x")).Append("\",\"el\":").Append(El);
        }
        sb.Append(",\"cause\":").Append(Cause);
        if (IsAccess)
        {
            sb.Append(",\"replayed\":");
            AppendResult(sb, Replayed);
        }
        if (Possible is { } p)
        {
            sb.Append(",\"possible\":");
            AppendResult(sb, p);
        }
        sb.Append(",\"fix\":\"");
        foreach (char c in Fix)
        {
            _ = c switch
            {
                '"' => sb.Append("\\\""),
                '\\' => sb.Append("\\\\"),
                < ' ' => sb.Append($"\\u{(int)c:x4}"),
                _ => sb.Append(c),
            };
        }
        sb.Append("\"}");
        return sb.ToString();
    }

    private static void AppendResult(StringBuilder sb, in AccessResult r)
    {
        if (r.Ok)
        {
            sb.Append("{\"pa\":\"0x").Append(r.Pa.ToString("x")).Append("\"}");
            return;
        }
        sb.Append("{\"fault\":{\"type\":\"").Append(FaultInfo.TypeName(r.Fault.Type)).Append("\",\"stage\":").Append(r.Fault.Stage)
            .Append(",\"level\":").Append(r.Fault.HasLevel ? r.Fault.Level.ToString(System.Globalization.CultureInfo.InvariantCulture) : "null")
            .Append(",\"s1ptw\":").Append(r.Fault.S1Ptw ? "true" : "false").Append("}}");
    }

    /// <summary>One line for people: where, what, and the fix.</summary>
    public override string ToString()
    {
        string what = IsAccess
            ? $"line {Line} (cpu {Cpu}, VA 0x{Va:x} at EL{El}): replayed {Replayed}, hardware may give {Possible}"
            : $"line {Line} (cpu {Cpu})";
        return $"{KindName(Kind)} [{(Error ? "error" : "note")}] {what}; cause line {Cause}; fix: {Fix}";
    }
}
