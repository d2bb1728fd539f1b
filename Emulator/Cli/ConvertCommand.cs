using System.CommandLine;
using MmuSim.Bits;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim convert IN OUT`: between the text and binary formats (and from foreign traces to either).</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("in") { Description = "Input trace ('-' for standard input; .gz and .xz are decompressed)." };
        var output = new Argument<string>("out") { Description = "Output trace ('-' for standard output; a .gz name is compressed)." };
        var format = FormatOption.Create();
        var to = new Option<string?>("--to")
        {
            Description = $"Output format, {string.Join(" or ", Writable.Select(f => f.Name))} (default: from OUT's extension, "
                + string.Join(", ", Writable.Select(f => $"{string.Join(" or ", f.Extensions)} is {f.Name}")) + "; else binary, or text for a binary input).",
        };
        to.CompletionSources.Add(Writable.Select(f => f.Name).ToArray());
        var skip = new Option<bool>("--skip-bad-lines") { Description = "Count malformed lines and go on." };
        var cmd = new Command("convert", "Convert a trace between the text and binary formats.") { input, output, format, to, skip };
        cmd.SetAction((pr, ct) =>
        {
            if (!FormatOption.TryRead(pr, format, out var inFormat, out _))
            {
                Console.Error.WriteLine($"mmusim: unknown --format '{pr.GetValue(format)}'");
                return Task.FromResult(1);
            }
            return Run(pr.GetValue(input)!, pr.GetValue(output)!, inFormat, pr.GetValue(to), pr.GetValue(skip), ct);
        });
        return cmd;
    }

    /// <summary>The formats `convert` writes: those of the registry with a writer.</summary>
    private static IEnumerable<InputFormat> Writable => InputFormats.All.Where(f => f.CanWrite);

    private static async Task<int> Run(string inPath, string outPath, TraceFormat format, string? toName, bool skip, CancellationToken ct)
    {
        if (CompressedOutput.Refusal(outPath, "convert IN") is { } refused)
        {
            Console.Error.WriteLine($"mmusim: {refused}");
            return 1;
        }
        try
        {
            await using var input = TraceInput.Open(inPath, format);
            InputFormat target;
            if (toName is not null)
            {
                if (!InputFormats.TryParse(toName, out var to) || Writable.FirstOrDefault(f => f.Id == to) is not { } named)
                {
                    Console.Error.WriteLine($"mmusim: --to is {string.Join(" or ", Writable.Select(f => f.Name))}, not '{toName}'");
                    return 1;
                }
                target = named;
            }
            else
            {
                string bare = outPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? outPath[..^3] : outPath;
                target = Writable.FirstOrDefault(f => f.Extensions.Any(e => bare.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
                    ?? (input.Format == TraceFormat.Binary ? InputFormats.Text : InputFormats.Binary);
            }
            // Through OutputFile: a temporary file renamed at the end, an output naming the input refused, `-` the
            // process's standard output (a closed pipe ends the run).
            using var output = OutputFile.Open(outPath, [inPath]);
            // The writer closes what it is given; the output file is closed (and renamed) by Commit.
            Stream sink = output.KeptOpen();
            sink = CompressedOutput.Wrap(outPath, sink);
            var parse = new ParseOptions { SkipBadLines = skip, OnBadLine = e => Console.Error.WriteLine($"mmusim: skipped {e.Message}") };
            using TraceWriter writer = target.CreateWriter(new BufferedStream(sink, 1 << 16));
            if (input.IsForeign)
            {
                // A foreign trace replays under demand paging at EL0 of the guest: say both in the converted trace,
                // so that it replays as the original does (docs/trace-format.md, "Demand paging carried by
                // converted traces").
                writer.OnRecord(new TraceRecord { Op = TraceOp.Paging });
                writer.OnRecord(new TraceRecord { Op = TraceOp.El, Value = 0 });
            }
            int exit = 0;
            try
            {
                await TraceReaders.ParseAsync(input, writer, parse, ct: ct);
            }
            catch (TraceFormatException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                exit = 2;
            }
            catch (PathIOException e) when (e.Output)
            {
                return ReplayCommand.OutputFailed(e);
            }
            try
            {
                writer.Flush();
                writer.Dispose(); // a .gz output's trailer
                output.Commit();
            }
            catch (PathIOException e)
            {
                return ReplayCommand.OutputFailed(e);
            }
            Console.Error.WriteLine($"mmusim: {writer.Records:N0} records written ({input.InputFormat.Name} -> {target.Name})"
                + (parse.BadLines > 0 ? $", {parse.BadLines:N0} bad lines skipped" : ""));
            return exit;
        }
        catch (TraceFormatException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        catch (PathIOException e) when (e.Output)
        {
            return ReplayCommand.OutputFailed(e);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
    }
}
