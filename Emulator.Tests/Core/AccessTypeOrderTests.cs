using MmuSim.Faults;
using MmuSim.Tracing;

namespace MmuSim.Tests.Core;

/// <summary>The replay loop turns a trace op into an access type by subtraction: the two enums must keep one order.</summary>
public sealed class AccessTypeOrderTests
{
    [Theory]
    [InlineData(TraceOp.Read, AccessType.Read)]
    [InlineData(TraceOp.Write, AccessType.Write)]
    [InlineData(TraceOp.Fetch, AccessType.Fetch)]
    public void TraceOpsOfAccessesAreInAccessTypeOrder(TraceOp op, AccessType type) =>
        Assert.Equal(type, (AccessType)(op - TraceOp.Read));
}
