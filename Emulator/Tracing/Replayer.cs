using System.IO.Pipelines;
using MmuSim.Core;

namespace MmuSim.Tracing;

/// <summary>Options of a replay.</summary>
public sealed record ReplayOptions
{
    /// <summary>Stop after the first access or AT that faults.</summary>
    public bool StopOnFault { get; init; }
}

/// <summary>
/// Streams one or more traces, in order and as one stream, into a <see cref="SimulatedCore"/> and hands every
/// outcome to a sink. Line numbers restart in each file; errors name the file.
/// </summary>
public sealed class Replayer
{
    private readonly SimulatedCore _core;
    private readonly IOutcomeSink _sink;
    private readonly ReplayOptions _options;

    public Replayer(SimulatedCore core, IOutcomeSink sink, ReplayOptions? options = null)
    {
        _core = core;
        _sink = sink;
        _options = options ?? new ReplayOptions();
    }

    /// <summary>True when the replay stopped at a fault because of <see cref="ReplayOptions.StopOnFault"/>.</summary>
    public bool StoppedOnFault { get; private set; }

    private sealed class StopSignal : Exception;

    private readonly struct Handler(Replayer owner, long lineBase) : ITraceHandler
    {
        public void OnRecord(in TraceRecord record)
        {
            var core = owner._core;
            core.Stats.Lines = lineBase + record.Line;
            if (core.Execute(in record, out var outcome))
            {
                owner._sink.OnOutcome(in outcome);
                if (owner._options.StopOnFault && (outcome.IsFault))
                {
                    owner.StoppedOnFault = true;
                    throw new StopSignal();
                }
            }
        }
    }

    /// <summary>Replays a stream. Returns false when it stopped on a fault.</summary>
    public async ValueTask<bool> ReplayAsync(Stream stream, string source, CancellationToken ct = default)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, leaveOpen: true));
        try
        {
            long lineBase = _core.Stats.Lines;
            long lines = await TextTraceParser.ParseAsync(reader, source, new Handler(this, lineBase), ct).ConfigureAwait(false);
            _core.Stats.Lines = lineBase + lines;
            return true;
        }
        catch (StopSignal)
        {
            return false;
        }
    }

    /// <summary>Replays files in order (`-` is standard input). Returns false when it stopped on a fault.</summary>
    public async ValueTask<bool> ReplayFilesAsync(IEnumerable<string> paths, CancellationToken ct = default)
    {
        foreach (var path in paths)
        {
            await using Stream s = path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);
            if (!await ReplayAsync(s, path, ct).ConfigureAwait(false))
            {
                return false;
            }
        }
        return true;
    }
}
