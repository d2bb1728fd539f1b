using System.CommandLine;
using System.IO.Compression;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim convert IN OUT`: between the text and binary formats (and from foreign traces to either).</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("in") { Description = "Input trace ('-' for standard input; .gz and .xz are decompressed)." };
        var output = new Argument<string>("out") { Description = "Output trace ('-' for standard output; a .gz name is compressed)." };
        var format = new Option<string>("--format") { Description = "Input format: auto, text, binary, lackey, champsim or qemu-mem.", DefaultValueFactory = _ => "auto" };
        var to = new Option<string?>("--to") { Description = "Output format, text or binary (default: from OUT's extension, .mbt is binary; else the other of the input's)." };
        var skip = new Option<bool>("--skip-bad-lines") { Description = "Count malformed lines and go on." };
        var cmd = new Command("convert", "Convert a trace between the text and binary formats.") { input, output, format, to, skip };
        cmd.SetAction((pr, ct) => Run(pr.GetValue(input)!, pr.GetValue(output)!, pr.GetValue(format)!, pr.GetValue(to), pr.GetValue(skip), ct));
        return cmd;
    }

    private static async Task<int> Run(string inPath, string outPath, string formatName, string? toName, bool skip, CancellationToken ct)
    {
        if (!TraceInput.TryParseFormat(formatName, out var format))
        {
            Console.Error.WriteLine($"mmusim: unknown --format '{formatName}'");
            return 1;
        }
        try
        {
            await using var input = TraceInput.Open(inPath, format);
            bool binaryOut;
            if (toName is not null)
            {
                if (!TraceInput.TryParseFormat(toName, out var to) || to is not (TraceFormat.Text or TraceFormat.Binary))
                {
                    Console.Error.WriteLine($"mmusim: --to is text or binary, not '{toName}'");
                    return 1;
                }
                binaryOut = to == TraceFormat.Binary;
            }
            else
            {
                string bare = outPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? outPath[..^3] : outPath;
                binaryOut = bare.EndsWith(".mbt", StringComparison.OrdinalIgnoreCase) ? true
                    : bare.EndsWith(".trace", StringComparison.OrdinalIgnoreCase) || bare.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) ? false
                    : input.Format != TraceFormat.Binary;
            }
            Stream sink = outPath == "-" ? Console.OpenStandardOutput() : File.Create(outPath);
            if (outPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                sink = new GZipStream(sink, CompressionLevel.Fastest);
            }
            var parse = new ParseOptions { SkipBadLines = skip, OnBadLine = e => Console.Error.WriteLine($"mmusim: skipped {e.Message}") };
            using TraceWriter writer = binaryOut ? new BinaryTraceWriter(new BufferedStream(sink, 1 << 16)) : new TextTraceWriter(new BufferedStream(sink, 1 << 16));
            if (input.IsForeign)
            {
                // Foreign accesses run at EL0 of the guest: say so in the converted trace.
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
            writer.Flush();
            Console.Error.WriteLine($"mmusim: {writer.Records:N0} records written ({TraceInput.FormatName(input.Format)} -> {(binaryOut ? "binary" : "text")})"
                + (parse.BadLines > 0 ? $", {parse.BadLines:N0} bad lines skipped" : ""));
            return exit;
        }
        catch (TraceFormatException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
    }
}
