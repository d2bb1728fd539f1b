namespace MmuSim.Tests.Support;

/// <summary>Console redirection is process-wide: tests that capture it join this collection and never run alongside each other.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>Tests that measure allocations of their own thread run alone, so tiered compilation triggered by other tests cannot land in their window.</summary>
[CollectionDefinition("Isolated", DisableParallelization = true)]
public sealed class IsolatedCollection;
