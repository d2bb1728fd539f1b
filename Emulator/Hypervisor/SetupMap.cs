using System.Globalization;
using System.Text;
using System.Text.Json;
using MmuSim.Addressing;

namespace MmuSim.Hypervisor;

/// <summary>How a region reaches the guest.</summary>
public enum RegionMapping : byte
{
    /// <summary>Mapped at stage 2 from its phys_start.</summary>
    Stage2,
    /// <summary>Sub-page MMIO: never mapped; accesses trap to the hypervisor, which emulates them.</summary>
    Subpage,
    /// <summary>Communication region: mapped at stage 2 onto a page of hypervisor memory.</summary>
    Comm,
}

/// <summary>A region as built: what the fault explainer needs to name it and reason about it.</summary>
/// <remarks>Index −1 is the root cell's PCI mmconfig window, which comes from platform_info rather than mem_regions.</remarks>
public sealed record MappedRegion(int Index, string? Name, ulong PhysStart, ulong VirtStart, ulong Size, MemFlags Flags, RegionMapping Mapping, ulong CommPa)
{
    /// <summary>Index of the pseudo-region for the PCI mmconfig window.</summary>
    public const int MmconfigIndex = -1;
    /// <summary>Index of the pseudo-region for the root cell's view of hypervisor_memory (jailhouse's empty page).</summary>
    public const int HypervisorMemoryIndex = -2;
    /// <summary>Name of the mmconfig pseudo-region when the hypervisor traps and filters it (jailhouse's root cell).</summary>
    public const string MmconfigFiltered = "pci_mmconfig (filtered)";

    /// <summary>First index of the regions hvisor adds for IVC channels (its control tables and shared sections).</summary>
    public const int IvcIndexBase = 1000;

    public string Label => Index switch
    {
        MmconfigIndex => "the PCI mmconfig window",
        HypervisorMemoryIndex => "hypervisor_memory (backed by one empty read-only page)",
        >= IvcIndexBase => Name ?? $"IVC region {Index}",
        _ => Name is null ? $"region {Index}" : $"region {Index} '{Name}'",
    };

    /// <summary>An hvisor IVC control table: the hypervisor answers its reads (mmio_ivc_handler).</summary>
    public bool IsIvcControlTable => Index >= IvcIndexBase && Mapping == RegionMapping.Subpage;
    public ulong VirtEnd => VirtStart + Size;
    public bool ContainsIpa(ulong ipa) => ipa - VirtStart < Size;
    public bool Has(MemFlags f) => (Flags & f) == f;
}

/// <summary>Root-cell memory a non-root cell took over (not ROOTSHARED): unmapped from the root cell's stage 2.</summary>
public sealed record GivenAway(ulong VirtStart, ulong PhysStart, ulong Size, int RootRegion, string ToCell, int ToRegion);

/// <summary>One cell's stage 2 as built.</summary>
public sealed class CellMap
{
    public required string Name { get; init; }
    public required bool IsRoot { get; init; }
    public required int Vmid { get; init; }
    /// <summary>PA of the stage-2 root table (VTTBR_EL2.BADDR).</summary>
    public required ulong TableRoot { get; init; }
    public required List<MappedRegion> Regions { get; init; }
    public List<GivenAway> GivenAway { get; init; } = new();

    public ulong Vttbr => CellSetupBuilder.EncodeBaddr(TableRoot) | ((ulong)Vmid << 48);
}

/// <summary>What the hypervisor's EL2 map holds a range for.</summary>
public enum El2Kind : byte
{
    /// <summary>Normal write-back, read/write/execute: the hypervisor's code and data.</summary>
    Code,
    /// <summary>Normal write-back, read/write, execute-never (table pool, communication pages).</summary>
    Data,
    /// <summary>Device-nGnRE, read/write, execute-never.</summary>
    Device,
}

/// <summary>A range the hypervisor must reach at EL2.</summary>
public sealed record El2Item(string Name, ulong Va, ulong Pa, ulong Size, El2Kind Kind);

/// <summary>
/// The layout behind a setup trace: geometry, the hypervisor's ranges, every cell's regions and stage-2 root.
/// `mmusim cell` writes it into the trace as `#@mmusim-setup` and `#@mmusim-cell` comment lines (one JSON object
/// each), so that `mmusim faults` can name regions from the trace alone; replays ignore them like any comment.
/// </summary>
public sealed class SetupMap
{
    public const string SetupDirective = "#@mmusim-setup ";
    public const string CellDirective = "#@mmusim-cell ";

    public required Granule Granule { get; init; }
    public required int PaBits { get; init; }
    public required int IpaBits { get; init; }
    public bool JailhouseCompat { get; init; }
    public bool HardwareAf { get; init; }
    public required ulong HvPhys { get; init; }
    public required ulong HvVirt { get; init; }
    public required ulong HvSize { get; init; }
    public ulong PoolBase { get; init; }
    public ulong PoolSize { get; init; }
    public string? EnteredCell { get; init; }
    public List<El2Item> El2 { get; init; } = new();
    public List<CellMap> Cells { get; init; } = new();

    /// <summary>The cell whose stage-2 tables VTTBR_EL2 points at, if any.</summary>
    public CellMap? CellForVttbr(ulong vttbr)
    {
        // BADDR[47:1], with BADDR[51:48] in bits [5:2] for a 52-bit root: compare encodings, VMID and CnP aside.
        ulong baddr = vttbr & 0x0000_FFFF_FFFF_FFFEUL;
        foreach (var c in Cells)
        {
            if (CellSetupBuilder.EncodeBaddr(c.TableRoot) == baddr)
            {
                return c;
            }
        }
        return null;
    }

    public IEnumerable<string> ToDirectives()
    {
        yield return SetupDirective + Json(w =>
        {
            w.WriteString("granule", TranslationGeometry.Name(Granule));
            w.WriteNumber("pa_bits", PaBits);
            w.WriteNumber("ipa_bits", IpaBits);
            w.WriteBoolean("jailhouse_compat", JailhouseCompat);
            w.WriteBoolean("hw_af", HardwareAf);
            Hex(w, "hv_phys", HvPhys);
            Hex(w, "hv_virt", HvVirt);
            Hex(w, "hv_size", HvSize);
            Hex(w, "pool_base", PoolBase);
            Hex(w, "pool_size", PoolSize);
            if (EnteredCell is not null)
            {
                w.WriteString("entered_cell", EnteredCell);
            }
            w.WriteStartArray("el2");
            foreach (var e in El2)
            {
                w.WriteStartObject();
                w.WriteString("name", e.Name);
                Hex(w, "va", e.Va);
                Hex(w, "pa", e.Pa);
                Hex(w, "size", e.Size);
                w.WriteString("kind", e.Kind.ToString().ToLowerInvariant());
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
        foreach (var c in Cells)
        {
            yield return CellDirective + Json(w =>
            {
                w.WriteString("name", c.Name);
                w.WriteBoolean("root", c.IsRoot);
                w.WriteNumber("vmid", c.Vmid);
                Hex(w, "table_root", c.TableRoot);
                w.WriteStartArray("regions");
                foreach (var r in c.Regions)
                {
                    w.WriteStartObject();
                    w.WriteNumber("index", r.Index);
                    if (r.Name is not null)
                    {
                        w.WriteString("name", r.Name);
                    }
                    Hex(w, "phys_start", r.PhysStart);
                    Hex(w, "virt_start", r.VirtStart);
                    Hex(w, "size", r.Size);
                    w.WriteString("flags", MemFlagNames.Format(r.Flags));
                    w.WriteString("mapping", r.Mapping.ToString().ToLowerInvariant());
                    if (r.Mapping == RegionMapping.Comm)
                    {
                        Hex(w, "comm_pa", r.CommPa);
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("given_away");
                foreach (var g in c.GivenAway)
                {
                    w.WriteStartObject();
                    Hex(w, "virt_start", g.VirtStart);
                    Hex(w, "phys_start", g.PhysStart);
                    Hex(w, "size", g.Size);
                    w.WriteNumber("root_region", g.RootRegion);
                    w.WriteString("to_cell", g.ToCell);
                    w.WriteNumber("to_region", g.ToRegion);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
        }
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Hex(Utf8JsonWriter w, string name, ulong v) => w.WriteString(name, $"0x{v:x}");

    /// <summary>
    /// <see cref="FromTraceLines"/> over the bytes of a (decompressed) text trace, in bounded memory: a comment line
    /// that is not a directive is skipped byte by byte whatever its length (a 1.2 GB comment used to be read into
    /// one string, 6.5 GB), and a directive longer than <paramref name="maxLine"/> bytes is an error naming its line
    /// and the column where it went past the limit.
    /// </summary>
    public static SetupMap? FromTraceStream(Stream text, string source, int maxLine) => FromTraceLines(HeaderLines(text, source, maxLine), source);

    /// <summary>
    /// The lines of the header (comments and blank lines) and the first line after it, as <see cref="FromTraceLines"/>
    /// reads them: a directive whole, any other comment as "#", a command line as "x" (where the scan stops).
    /// </summary>
    private static IEnumerable<string> HeaderLines(Stream text, string source, int maxLine)
    {
        var chunk = new byte[64 << 10];
        var directive = new MemoryStream();
        long n = 1;
        // Per line: 0 = leading blanks, 1 = a comment being matched against "#@mmusim-", 2 = a directive being
        // kept, 3 = a comment being skipped.
        int state = 0;
        long column = 0;
        int read;
        while ((read = text.Read(chunk, 0, chunk.Length)) > 0)
        {
            for (int i = 0; i < read; i++)
            {
                byte b = chunk[i];
                if (b == (byte)'\n')
                {
                    if (state == 2 || state == 1)
                    {
                        yield return Encoding.UTF8.GetString(directive.GetBuffer(), 0, (int)directive.Length).TrimEnd('\r');
                    }
                    else
                    {
                        yield return state == 3 ? "#" : "";
                    }
                    directive.SetLength(0);
                    state = 0;
                    column = 0;
                    n++;
                    continue;
                }
                column++;
                switch (state)
                {
                    case 0 when b is (byte)' ' or (byte)'\t' or (byte)'\r':
                        break;
                    case 0 when b == (byte)'#':
                        state = 1;
                        directive.WriteByte(b);
                        break;
                    case 0:
                        yield return "x";
                        yield break;
                    case 1:
                        directive.WriteByte(b);
                        if (DirectivePrefix[(int)directive.Length - 1] != b)
                        {
                            state = 3;
                            directive.SetLength(0);
                        }
                        else if (directive.Length == DirectivePrefix.Length)
                        {
                            state = 2;
                        }
                        break;
                    case 2:
                        if (column > maxLine)
                        {
                            throw new FormatException($"{source}:{n}:{column}: line is longer than {maxLine} bytes");
                        }
                        directive.WriteByte(b);
                        break;
                }
            }
        }
        if (state is 1 or 2)
        {
            yield return Encoding.UTF8.GetString(directive.GetBuffer(), 0, (int)directive.Length);
        }
    }

    /// <summary>What both directives start with.</summary>
    private static readonly byte[] DirectivePrefix = "#@mmusim-"u8.ToArray();

    /// <summary>
    /// Reads the directives of a setup trace (lines starting with <see cref="SetupDirective"/> or
    /// <see cref="CellDirective"/>) from the comment block before its first command, so a long guest trace costs
    /// one line. Null when there are none; throws <see cref="FormatException"/> naming the line when one is malformed.
    /// </summary>
    public static SetupMap? FromTraceLines(IEnumerable<string> lines, string source)
    {
        SetupMap? map = null;
        var cells = new List<CellMap>();
        int n = 0;
        foreach (string raw in lines)
        {
            n++;
            string line = raw.TrimStart();
            if (line.Length > 0 && line[0] != '#')
            {
                break;
            }
            bool setup = line.StartsWith(SetupDirective, StringComparison.Ordinal);
            bool cell = line.StartsWith(CellDirective, StringComparison.Ordinal);
            if (!setup && !cell)
            {
                continue;
            }
            string json = line[(setup ? SetupDirective : CellDirective).Length..];
            try
            {
                using var doc = JsonDocument.Parse(json);
                var e = doc.RootElement;
                if (setup)
                {
                    map = ParseSetup(e, cells);
                }
                else
                {
                    cells.Add(ParseCell(e));
                }
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new FormatException($"{source}:{n}:1: malformed {(setup ? "#@mmusim-setup" : "#@mmusim-cell")} line: {ex.Message}");
            }
        }
        if (map is null && cells.Count > 0)
        {
            throw new FormatException($"{source}: #@mmusim-cell lines without a #@mmusim-setup line");
        }
        return map;
    }

    private static SetupMap ParseSetup(JsonElement e, List<CellMap> cells)
    {
        string g = e.GetProperty("granule").GetString()!;
        var map = new SetupMap
        {
            Granule = g switch { "4K" => Granule.K4, "16K" => Granule.K16, "64K" => Granule.K64, _ => throw new FormatException($"granule \"{g}\"") },
            PaBits = e.GetProperty("pa_bits").GetInt32(),
            IpaBits = e.GetProperty("ipa_bits").GetInt32(),
            JailhouseCompat = e.GetProperty("jailhouse_compat").GetBoolean(),
            HardwareAf = e.GetProperty("hw_af").GetBoolean(),
            HvPhys = H(e, "hv_phys"),
            HvVirt = H(e, "hv_virt"),
            HvSize = H(e, "hv_size"),
            PoolBase = H(e, "pool_base"),
            PoolSize = H(e, "pool_size"),
            EnteredCell = e.TryGetProperty("entered_cell", out var ec) ? ec.GetString() : null,
            Cells = cells,
        };
        foreach (var i in e.GetProperty("el2").EnumerateArray())
        {
            string kind = i.GetProperty("kind").GetString()!;
            map.El2.Add(new El2Item(i.GetProperty("name").GetString()!, H(i, "va"), H(i, "pa"), H(i, "size"),
                kind switch { "code" => El2Kind.Code, "data" => El2Kind.Data, "device" => El2Kind.Device, _ => throw new FormatException($"kind \"{kind}\"") }));
        }
        return map;
    }

    private static CellMap ParseCell(JsonElement e)
    {
        var regions = new List<MappedRegion>();
        foreach (var r in e.GetProperty("regions").EnumerateArray())
        {
            string mapping = r.GetProperty("mapping").GetString()!;
            string flags = r.GetProperty("flags").GetString()!;
            MemFlags f = MemFlags.None;
            if (flags != "0")
            {
                foreach (var part in flags.Split('|'))
                {
                    f |= MemFlagNames.TryParse(part, out var one) ? one : throw new FormatException($"flag \"{part}\"");
                }
            }
            regions.Add(new MappedRegion(
                r.GetProperty("index").GetInt32(),
                r.TryGetProperty("name", out var nm) ? nm.GetString() : null,
                H(r, "phys_start"), H(r, "virt_start"), H(r, "size"), f,
                mapping switch { "stage2" => RegionMapping.Stage2, "subpage" => RegionMapping.Subpage, "comm" => RegionMapping.Comm, _ => throw new FormatException($"mapping \"{mapping}\"") },
                r.TryGetProperty("comm_pa", out _) ? H(r, "comm_pa") : 0));
        }
        var given = new List<GivenAway>();
        foreach (var g in e.GetProperty("given_away").EnumerateArray())
        {
            given.Add(new GivenAway(H(g, "virt_start"), H(g, "phys_start"), H(g, "size"), g.GetProperty("root_region").GetInt32(),
                g.GetProperty("to_cell").GetString()!, g.GetProperty("to_region").GetInt32()));
        }
        return new CellMap
        {
            Name = e.GetProperty("name").GetString()!,
            IsRoot = e.GetProperty("root").GetBoolean(),
            Vmid = e.GetProperty("vmid").GetInt32(),
            TableRoot = H(e, "table_root"),
            Regions = regions,
            GivenAway = given,
        };
    }

    private static ulong H(JsonElement e, string name)
    {
        string s = e.GetProperty(name).GetString()!;
        if (!s.StartsWith("0x", StringComparison.Ordinal) || !ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
        {
            throw new FormatException($"\"{name}\": \"{s}\" is not a 0x-hexadecimal number");
        }
        return v;
    }
}
