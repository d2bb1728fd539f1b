using System.Text;

namespace MmuSim.Hypervisor;

/// <summary>
/// Region names from a jailhouse configuration's C source (the companion of its .cell): jailhouse keeps a region's
/// name in the comment before its initializer (<c>/* RAM */ {</c>). Read from the <c>.mem_regions = { ... }</c>
/// initializer: each element at the top level is a region, <c>{ 0 }</c> included; JAILHOUSE_SHMEM_NET_REGIONS(...)
/// stands for its four regions. At any other macro the count could go wrong, so naming stops there.
/// </summary>
public static class ConfigSourceNames
{
    /// <summary>Region index → name, for the regions a comment names; empty when there is no mem_regions initializer.</summary>
    public static Dictionary<int, string> Read(string source)
    {
        var names = new Dictionary<int, string>();
        // The initializer, not a use such as ARRAY_SIZE(config.mem_regions).
        var m = System.Text.RegularExpressions.Regex.Match(source, @"\.mem_regions\s*=\s*\{");
        if (!m.Success)
        {
            return names;
        }
        int at = m.Index + m.Length - 1;
        int depth = 1;
        int index = 0;
        string? comment = null;
        for (int i = at + 1; i < source.Length && depth > 0; i++)
        {
            char c = source[i];
            if (c == '/' && i + 1 < source.Length && source[i + 1] == '*')
            {
                int end = source.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    break;
                }
                if (depth == 1)
                {
                    comment = Clean(source[(i + 2)..end]);
                }
                i = end + 1;
            }
            else if (c == '/' && i + 1 < source.Length && source[i + 1] == '/')
            {
                int end = source.IndexOf('\n', i);
                end = end < 0 ? source.Length : end;
                if (depth == 1)
                {
                    comment = Clean(source[(i + 2)..end]);
                }
                i = end;
            }
            else if (c == '{')
            {
                if (depth == 1)
                {
                    if (comment is { Length: > 0 })
                    {
                        names[index] = comment;
                    }
                    comment = null;
                    index++;
                }
                depth++;
            }
            else if (c == '}')
            {
                depth--;
            }
            else if (depth == 1 && (char.IsAsciiLetter(c) || c == '_'))
            {
                int start = i;
                while (i < source.Length && (char.IsAsciiLetterOrDigit(source[i]) || source[i] == '_'))
                {
                    i++;
                }
                string macro = source[start..i];
                if (macro != "JAILHOUSE_SHMEM_NET_REGIONS")
                {
                    break;
                }
                int close = source.IndexOf(')', i);
                if (close < 0)
                {
                    break;
                }
                for (int k = 0; k < 4; k++)
                {
                    if (comment is { Length: > 0 })
                    {
                        names[index] = $"{comment} [{k}]";
                    }
                    index++;
                }
                comment = null;
                i = close;
            }
        }
        return names;
    }

    /// <summary>The cell with <paramref name="names"/> given to its regions that have none.</summary>
    public static CellConfig Apply(CellConfig cell, Dictionary<int, string> names)
    {
        MemRegion Named(MemRegion r) => r.Name is not null || !names.TryGetValue(r.Index, out string? n) ? r : new MemRegion
        {
            Index = r.Index,
            Name = n,
            PhysStart = r.PhysStart,
            VirtStart = r.VirtStart,
            Size = r.Size,
            Flags = r.Flags,
            Pos = r.Pos,
            FieldPos = r.FieldPos,
        };
        return new CellConfig
        {
            Name = cell.Name,
            IsRoot = cell.IsRoot,
            File = cell.File,
            Pos = cell.Pos,
            Regions = cell.Regions.Select(Named).ToList(),
            Placeholders = cell.Placeholders.Select(Named).ToList(),
            Flags = cell.Flags,
            Cpus = cell.Cpus,
            CpusPos = cell.CpusPos,
            Irqchips = cell.Irqchips,
            PciDevices = cell.PciDevices,
        };
    }

    /// <summary>The names in the C source next to a .cell file (same name, ".c"), or none.</summary>
    public static Dictionary<int, string> ForCellFile(string cellPath)
    {
        string source = Path.ChangeExtension(cellPath, ".c");
        return cellPath.EndsWith(".cell", StringComparison.Ordinal) && File.Exists(source) ? Read(File.ReadAllText(source)) : [];
    }

    /// <summary>A comment as a one-line name: whitespace collapsed, at most 60 characters.</summary>
    private static string Clean(string text)
    {
        var sb = new StringBuilder();
        foreach (string word in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (word == "*")
            {
                continue;
            }
            sb.Append(sb.Length > 0 ? " " : "").Append(word);
        }
        return sb.Length > 60 ? sb.ToString(0, 60) : sb.ToString();
    }
}
