using System.Runtime.InteropServices;

namespace MmuSim.Cli;

/// <summary>
/// SIGINT and SIGTERM end a run in order instead of killing it: the replay stops at the next block of input
/// (whole records only), complete result lines are written and committed, the summary of what ran is printed, and
/// the exit code is 128 + the signal (130, 143), as a shell reports a command the signal ended.
/// </summary>
public static class Interrupts
{
    private static readonly CancellationTokenSource Source = new();
    private static PosixSignalRegistration? _int, _term;
    private static int _signal;
    private static volatile bool _observed;

    /// <summary>
    /// For a command that ends itself in order on a signal (`replay`): from now on the first SIGINT or SIGTERM cancels
    /// the token returned instead of ending the process. Any other command is ended by the signal at once, as by
    /// default: catching the signal for a command that never looks at the token kept it running to the end
    /// (`cell` on 3,000 overlapping regions ignored SIGTERM).
    /// </summary>
    public static CancellationToken Observe()
    {
        _observed = true;
        return Source.Token;
    }

    /// <summary>The exit code for the signal received (130 SIGINT, 143 SIGTERM), 0 when none was.</summary>
    public static int ExitCode => _signal == 0 ? 0 : 128 + _signal;

    /// <summary>Takes SIGINT and SIGTERM from the default (immediate termination). Called once by the process's entry point.</summary>
    public static void Install()
    {
        _int ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Received(c, 2));
        _term ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Received(c, 15));
    }

    private static void Received(PosixSignalContext context, int number)
    {
        if (!_observed)
        {
            return; // context.Cancel left false: the default, the process ends now
        }
        if (Interlocked.CompareExchange(ref _signal, number, 0) == 0)
        {
            context.Cancel = true; // the run ends itself, writing what it has
            Source.Cancel();
        }
        // A second signal terminates at once (context.Cancel left false): a user who insists is obeyed.
    }
}
