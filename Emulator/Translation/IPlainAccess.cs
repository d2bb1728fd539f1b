using MmuSim.Faults;

namespace MmuSim.Translation;

/// <summary>
/// A load, store or instruction fetch as a program issues it: a VA, its kind and its size, nothing else. Runs of
/// them are what most of a trace is; a reader keeps them in whatever struct suits its format, and the PE's run loop
/// is specialised for that struct (a generic struct constraint, no copy and no virtual call).
/// </summary>
public interface IPlainAccess
{
    ulong Va { get; }

    /// <summary>The kind of access; a value outside <see cref="AccessType"/> marks an element that is not an access.</summary>
    AccessType Type { get; }

    /// <summary>Bytes accessed (a fetch is 4 bytes whatever this says).</summary>
    byte Size { get; }
}
