using System.Text;
using System.Text.Json;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>Writes fault reports as text for people and as `{"faults": [...]}` JSON for tools.</summary>
public static class FaultReportWriter
{
    /// <summary>One line of ESR: EC, WnR (data aborts), S1PTW and the status code, in words.</summary>
    public static string EsrLine(ulong esr)
    {
        int ec = (int)BitOps.Field(esr, 31, 26);
        int fsc = (int)BitOps.Field(esr, 5, 0);
        bool data = ec is Syndrome.EcDataAbortLowerEl or Syndrome.EcDataAbortSameEl;
        var sb = new StringBuilder($"EC 0x{ec:x2} {SyndromeDecoder.EcName(ec)}");
        if (data)
        {
            sb.Append($", WnR={(BitOps.Bit(esr, 6) ? "1 (write)" : "0 (read)")}");
        }
        sb.Append($", S1PTW={(BitOps.Bit(esr, 7) ? 1 : 0)}, {(data ? "DFSC" : "IFSC")} 0x{fsc:x2} {Syndrome.DecodeFsc(fsc).Description}");
        return sb.ToString();
    }

    public static string Text(FaultReport r)
    {
        var o = r.Outcome;
        var f = o.Fault;
        string op = o.Op switch { ResultOp.Write => "W", ResultOp.Fetch => "X", _ => "R" };
        var sb = new StringBuilder();
        sb.AppendLine($"{r.Source}:{o.Line}: {op} 0x{o.Va:x} at EL{o.El}: {FaultInfo.TypeName(f.Type).Replace('_', ' ')} fault, stage {f.Stage}{(f.Type == FaultType.Alignment ? "" : $", level {f.Level}")}"
            + $"{(f.S1Ptw ? " on a stage-1 table walk" : "")}, taken to EL{o.TargetEl}");
        sb.AppendLine($"  ESR_EL{o.TargetEl}   0x{o.Esr:x}  {EsrLine(o.Esr)}");
        sb.AppendLine($"  FAR_EL{o.TargetEl}   0x{o.Far:x}");
        if (o.HasHpfar)
        {
            sb.AppendLine($"  HPFAR_EL2 0x{o.Hpfar:x}  (faulting IPA page 0x{BitOps.Field(o.Hpfar, 43, 4) << 12:x})");
        }
        if (r.Ipa is { } ipa)
        {
            sb.AppendLine($"  IPA       0x{ipa:x}");
        }
        if (r.Region is { } rr)
        {
            var g = rr.Region;
            string range = $"IPA {Sizes.Range(g.VirtStart, g.Size)}" + g.Mapping switch
            {
                RegionMapping.Subpage => $" (sub-page MMIO at PA 0x{g.PhysStart:x})",
                RegionMapping.Comm => $" -> PA 0x{g.CommPa:x} (communication page)",
                _ => $" -> PA 0x{g.PhysStart:x}",
            };
            sb.AppendLine($"  region    {(rr.Contains ? "" : "in no region; nearest is ")}cell '{rr.Cell}' {g.Label} {range}, {MemFlagNames.Format(g.Flags)}");
        }
        else if (r.El2Range is { } e)
        {
            sb.AppendLine($"  range     hypervisor {e.Name} VA {Sizes.Range(e.Va, e.Size)}");
        }
        else if (f.Stage == 2)
        {
            sb.AppendLine("  region    in no region");
        }
        for (int i = 0; i < r.Walk.Count; i++)
        {
            sb.AppendLine($"  {(i == 0 ? "walk   " : "       ")}   {r.Walk[i]}");
        }
        if (r.Walk.Count == 0)
        {
            sb.AppendLine("  walk      (no table walk)");
        }
        sb.AppendLine($"  cause     {r.Cause}");
        return sb.ToString();
    }

    public static void WriteJson(Stream stream, IReadOnlyList<FaultReport> reports)
    {
        using var json = new JsonStream(stream);
        foreach (var r in reports)
        {
            json.Add(r);
        }
    }

    /// <summary>
    /// `{"faults": [...]}` written one report at a time as the replay finds them, so a run with millions of faults
    /// keeps none of them in memory; disposing closes the array and the object.
    /// </summary>
    public sealed class JsonStream : IDisposable
    {
        private readonly Utf8JsonWriter _w;

        public JsonStream(Stream stream)
        {
            _w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            _w.WriteStartObject();
            _w.WriteStartArray("faults");
        }

        public void Add(FaultReport r)
        {
            Write(_w, r);
            if (_w.BytesPending > (1 << 16))
            {
                _w.Flush();
            }
        }

        public void Dispose()
        {
            _w.WriteEndArray();
            _w.WriteEndObject();
            _w.Dispose();
        }
    }

    private static void Write(Utf8JsonWriter w, FaultReport r)
    {
        {
            var o = r.Outcome;
            var f = o.Fault;
            w.WriteStartObject();
            w.WriteString("file", r.Source);
            w.WriteNumber("line", o.Line);
            w.WriteString("op", o.Op switch { ResultOp.Write => "W", ResultOp.Fetch => "X", _ => "R" });
            w.WriteNumber("el", o.El);
            Hex(w, "va", o.Va);
            if (r.Ipa is { } ipa)
            {
                Hex(w, "ipa", ipa);
            }
            w.WriteStartObject("fault");
            w.WriteString("type", FaultInfo.TypeName(f.Type));
            w.WriteNumber("stage", f.Stage);
            w.WriteNumber("level", f.Level);
            w.WriteBoolean("s1ptw", f.S1Ptw);
            w.WriteNumber("target_el", o.TargetEl);
            Hex(w, "esr", o.Esr);
            Hex(w, "far", o.Far);
            if (o.HasHpfar)
            {
                Hex(w, "hpfar", o.Hpfar);
            }
            w.WriteEndObject();
            if (r.Region is { } rr)
            {
                w.WriteStartObject("region");
                w.WriteString("cell", rr.Cell);
                w.WriteNumber("index", rr.Region.Index);
                if (rr.Region.Name is null)
                {
                    w.WriteNull("name");
                }
                else
                {
                    w.WriteString("name", rr.Region.Name);
                }
                w.WriteBoolean("contains", rr.Contains);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("region");
            }
            if (r.El2Range is { } e)
            {
                w.WriteString("hypervisor_range", e.Name);
            }
            w.WriteString("cause", r.Cause);
            w.WriteStartArray("walk");
            foreach (var line in r.Walk)
            {
                w.WriteStringValue(line);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    private static void Hex(Utf8JsonWriter w, string name, ulong v) => w.WriteString(name, $"0x{v:x}");
}
