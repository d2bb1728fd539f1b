using System.CommandLine;

namespace MmuSim.Cli;

/// <summary>Every option of the command a run was given, with the value it took (for the summary's provenance).</summary>
internal static class RunOptions
{
    /// <summary>
    /// Each option of the parsed command but `--help`, in declaration order: its value as given (a flag: true; one
    /// token: that text; several: the list), else its default, else null. Values are text as typed (a flag a
    /// boolean), so the summary shows what a user would type again.
    /// </summary>
    public static IReadOnlyList<(string Name, object? Value)> Of(ParseResult pr)
    {
        var list = new List<(string, object?)>();
        foreach (var option in pr.CommandResult.Command.Options)
        {
            if (option is System.CommandLine.Help.HelpOption || option.Name == "--help")
            {
                continue;
            }
            var result = pr.GetResult(option);
            object? value;
            if (result is { Implicit: false })
            {
                value = option.ValueType == typeof(bool) ? result.GetValueOrDefault<bool>()
                    : result.Tokens.Count == 1 && !option.AllowMultipleArgumentsPerToken && option.Arity.MaximumNumberOfValues <= 1 ? result.Tokens[0].Value
                    : result.Tokens.Select(t => t.Value).ToArray();
            }
            else
            {
                // Defaults as the text that would give them (a number as typed), flags as true/false.
                value = option.ValueType == typeof(bool) ? option.HasDefaultValue && option.GetDefaultValue() is true
                    : option.HasDefaultValue && option.GetDefaultValue() is { } d ? (d is string[] many ? many : Convert.ToString(d, System.Globalization.CultureInfo.InvariantCulture))
                    : null;
            }
            list.Add((option.Name, value));
        }
        return list;
    }
}
