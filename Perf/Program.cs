using BenchmarkDotNet.Running;

namespace MmuSim.Perf;

/// <summary>Runs the benchmarks: `dotnet run -c Release --project Perf -- --filter '*'` (one class per concept).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
