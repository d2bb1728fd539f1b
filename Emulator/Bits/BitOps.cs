using System.Runtime.CompilerServices;

namespace MmuSim.Bits;

/// <summary>Bit-field helpers. Field ranges are written as in the Arm ARM: <c>X[hi:lo]</c>.</summary>
public static class BitOps
{
    /// <summary>X[hi:lo], right-aligned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Field(ulong x, int hi, int lo) => (x >> lo) & Mask(hi - lo + 1);

    /// <summary>X[n].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Bit(ulong x, int n) => ((x >> n) & 1) != 0;

    /// <summary>A mask of the low <paramref name="width"/> bits (width 0..64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int width) => width >= 64 ? ulong.MaxValue : (1UL << width) - 1;

    /// <summary>A mask of bits [hi:lo].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int hi, int lo) => Mask(hi - lo + 1) << lo;

    /// <summary>True when any bit at or above <paramref name="n"/> is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyAbove(ulong x, int n) => n < 64 && (x >> n) != 0;
}

/// <summary>Cold throws, kept out of hot methods so those stay small enough to inline.</summary>
public static class ThrowHelper
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void InvalidOperation(string message) => throw new InvalidOperationException(message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Argument(string message, string param) => throw new ArgumentException(message, param);
}
