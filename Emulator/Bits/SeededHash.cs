using System.Runtime.CompilerServices;

namespace MmuSim.Bits;

/// <summary>
/// Hashing of 64-bit keys taken from an input (physical addresses, frame numbers) that the input cannot aim at: the
/// multiplier and offset are drawn at random per table, so no set of addresses written into a trace collides on
/// every run. Multiply-add-shift (Dietzfelbinger, "Universal hashing and k-wise independent random variables via
/// integer arithmetic without primes", 1996): the top bits of a·x + b with a odd.
/// The default hash of <see cref="ulong"/> folds the two halves together (<c>(x &lt;&lt; 32) | x</c> all hash to 0),
/// which is what a hostile trace of <c>mem</c> lines aims at.
/// </summary>
public readonly struct SeededHash
{
    private readonly ulong _a;
    private readonly ulong _b;

    private SeededHash(ulong a, ulong b)
    {
        _a = a | 1;
        _b = b;
    }

    /// <summary>A hash with a fresh random seed.</summary>
    public static SeededHash Random()
    {
        // The seed only has to be unknown to whoever wrote the trace, as the runtime's own string-hash seeds are:
        // System.Random's shared instance is seeded from the OS's random source like those, and unlike
        // RandomNumberGenerator it does not load and initialise OpenSSL in every process that replays a trace.
        Span<byte> seed = stackalloc byte[16];
        System.Random.Shared.NextBytes(seed);
        return new SeededHash(BitConverter.ToUInt64(seed), BitConverter.ToUInt64(seed[8..]));
    }

    /// <summary>The top <paramref name="bits"/> bits (1..63) of the key's hash: a table index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong key, int bits) => (int)(Mix(key) >> (64 - bits));

    /// <summary>A 32-bit hash code (a dictionary's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Code(ulong key) => (int)(Mix(key) >> 32);

    /// <summary>
    /// a·x + b alone maps an arithmetic progression of keys (a stride of frames) to a Weyl sequence, which for an
    /// unlucky a bunches into few slots; an xor-shift and a second multiply (SplitMix64's finaliser step) spread
    /// every bit of it over the top bits a table takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Mix(ulong key)
    {
        ulong h = key * _a + _b;
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 29;
        return h;
    }
}

/// <summary>An equality comparer for <see cref="ulong"/> keys of a <see cref="Dictionary{TKey,TValue}"/> hashed by a <see cref="SeededHash"/>.</summary>
public sealed class SeededUInt64Comparer : IEqualityComparer<ulong>
{
    private readonly SeededHash _hash = SeededHash.Random();

    public bool Equals(ulong x, ulong y) => x == y;

    public int GetHashCode(ulong obj) => _hash.Code(obj);
}
