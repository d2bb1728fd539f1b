using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using MmuSim.Core;

namespace MmuSim.Reporting;

/// <summary>One input of a run, as it was opened: enough to find it again and to know it is the same file.</summary>
/// <param name="Path">The name given on the command line (`-` for standard input).</param>
/// <param name="Bytes">Its size as stored (compressed), when it is a file; null for a pipe.</param>
/// <param name="Format">The input format it was read as (the registry's name).</param>
/// <param name="Compression">none, gzip, xz or zstd.</param>
/// <param name="Digest">`xxh3:` and the hash of the stored bytes, or null when the input was not read to its end.</param>
public sealed record InputRecord(string Path, long? Bytes, string Format, string Compression, string? Digest = null);

/// <summary>
/// What produced a summary (the `provenance` object of `--json`, docs/translation-cost.md, "Provenance"): the tool
/// and its version, the command and every option as it took effect (defaults included), the inputs, the model's name,
/// source and digest, whether demand paging ran, and the lines skipped. Enough to run the same replay again and to
/// tell two summaries of different runs apart.
/// </summary>
public sealed class Provenance
{
    public required string Command { get; init; }

    /// <summary>Every option of the command by its long name, with the value it had (null when absent and without default).</summary>
    public required IReadOnlyList<(string Name, object? Value)> Options { get; init; }

    public required IReadOnlyList<InputRecord> Inputs { get; init; }

    /// <summary>"preset", "config" or "default".</summary>
    public required string ModelSource { get; init; }

    /// <summary>The preset's name or the configuration file's path.</summary>
    public required string ModelName { get; init; }

    public required ModelConfig Model { get; init; }

    /// <summary>Demand paging served faults in this run (auto with a foreign or `paging demand` input, or on).</summary>
    public required bool DemandPaging { get; init; }

    public required long SkippedLines { get; init; }

    /// <summary>The tool's version (MinVer's, from git; with the commit after '+').</summary>
    public static string ToolVersion =>
        typeof(Provenance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>SHA-256 of the model as `--json` writes it under `model`: two runs with the same digest ran the same model.</summary>
    public static string ModelDigest(ModelConfig model)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            ModelConfigJson.Write(w, model);
        }
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
    }

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject("provenance");
        w.WriteString("tool", "mmusim");
        w.WriteString("version", ToolVersion);
        w.WriteString("command", Command);
        w.WriteStartObject("options");
        foreach (var (name, value) in Options)
        {
            WriteValue(w, name, value);
        }
        w.WriteEndObject();
        w.WriteStartArray("inputs");
        foreach (var i in Inputs)
        {
            w.WriteStartObject();
            w.WriteString("path", i.Path);
            if (i.Bytes is long b)
            {
                w.WriteNumber("bytes", b);
            }
            else
            {
                w.WriteNull("bytes");
            }
            w.WriteString("format", i.Format);
            w.WriteString("compression", i.Compression);
            if (i.Digest is { } d)
            {
                w.WriteString("digest", d);
            }
            else
            {
                w.WriteNull("digest");
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("model");
        w.WriteString("source", ModelSource);
        w.WriteString("name", ModelName);
        w.WriteString("digest", ModelDigest(Model));
        w.WriteEndObject();
        w.WriteBoolean("demandPaging", DemandPaging);
        w.WriteNumber("skippedLines", SkippedLines);
        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, string name, object? value)
    {
        switch (value)
        {
            case null:
                w.WriteNull(name);
                break;
            case bool b:
                w.WriteBoolean(name, b);
                break;
            case int or long or uint or ulong:
                w.WriteNumber(name, Convert.ToDecimal(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case IEnumerable<string> list:
                w.WriteStartArray(name);
                foreach (string s in list)
                {
                    w.WriteStringValue(s);
                }
                w.WriteEndArray();
                break;
            default:
                w.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
        }
    }
}
