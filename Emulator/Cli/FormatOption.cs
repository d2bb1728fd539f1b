using System.CommandLine;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>The `--format` option of the commands that read traces: its values and help come from <see cref="InputFormats"/>.</summary>
public static class FormatOption
{
    public static Option<string> Create()
    {
        var o = new Option<string>("--format") { Description = InputFormats.OptionHelp, DefaultValueFactory = _ => "auto" };
        o.CompletionSources.Add(InputFormats.OptionValues.ToArray());
        return o;
    }

    /// <summary>Reads the option's value; false with the error to print when it names no format.</summary>
    public static bool TryRead(ParseResult pr, Option<string> option, out TraceFormat format, out string? error)
    {
        string value = pr.GetValue(option)!;
        error = InputFormats.TryParse(value, out format) ? null : $"unknown --format '{value}' ({string.Join(", ", InputFormats.OptionValues)})";
        return error is null;
    }
}
