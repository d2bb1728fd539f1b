using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// A/B timing of the text fast path on this noisy shared machine: a frozen copy of the access run ("reference", each
/// line's start chained on the previous line's parse) against the product's current one, alternating on the same
/// bytes in memory, best of N each. (A newline-indexed run, the C yardstick's way, measured 14.0 ns/line against the
/// chained run's 12.1 here: the per-line work is throughput-bound, not latency-bound, and the index adds work.)
/// </summary>
public static class AccessRunAb
{
    private struct Sum : ITraceHandler
    {
        public ulong S;
        public List<TraceRecord>? Keep;

        public void OnRecord(in TraceRecord record)
        {
            S += record.Address + record.Size + (ulong)record.Op;
            Keep?.Add(record);
        }
    }

    public static void Compare(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        var a = new List<TraceRecord>();
        var b = new List<TraceRecord>();
        Drive(data, true, a);
        Drive(data, false, b);
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
        {
            if (!a[i].Equals(b[i]))
            {
                Console.WriteLine($"record {i}: old {a[i]} new {b[i]}");
                return;
            }
        }
        Console.WriteLine($"counts {a.Count} {b.Count}");
    }

    public static void Run(string path, int runs)
    {
        byte[] data = File.ReadAllBytes(path);
        double bestOld = double.MaxValue, bestNew = double.MaxValue;
        ulong so = 0, sn = 0;
        long lo = 0, lnw = 0;
        for (int r = 0; r < runs; r++)
        {
            var sw = Stopwatch.StartNew();
            (lo, so) = Drive(data, old: true);
            bestOld = Math.Min(bestOld, sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            (lnw, sn) = Drive(data, old: false);
            bestNew = Math.Min(bestNew, sw.Elapsed.TotalMilliseconds);
        }
        Console.WriteLine($"reference run: best {bestOld:F1} ms = {bestOld * 1e6 / lo:F2} ns/line; product run: best {bestNew:F1} ms = {bestNew * 1e6 / lnw:F2} ns/line (lines {lo}/{lnw}, sums {(so == sn ? "equal" : "DIFFER")})");
    }

    /// <summary>Fast-path runs with the non-access lines skipped by IndexOf (their cost is the same in both).</summary>
    private static (long, ulong) Drive(byte[] data, bool old, List<TraceRecord>? keep = null)
    {
        var h = new Sum { Keep = keep };
        long line = 0;
        int p = 0;
        ReadOnlySpan<byte> span = data;
        while (true)
        {
            p += old ? ParseAccessRun(span[p..], ref line, ref h) : TextTraceParser.ParseAccessRun(span[p..], ref line, ref h);
            int i = span[p..].IndexOf((byte)'\n');
            if (i < 0)
            {
                break;
            }
            line++;
            p += i + 1;
        }
        return (line, h.S);
    }

    /// <summary>
    /// The fused fast path over a whole segment: `R|W|X 0xHEX` with an optional ` SIZE` (R/W), single spaces, '\n'
    /// or "\r\n" ends: exactly the lines <see cref="TryParseAccess"/> accepts, recognised in place, so the line end
    /// falls out of the parse instead of a separate search per line. Up to 16 hexadecimal digits are decoded at once
    /// with SSSE3 when available. Stops (without consuming) at the first line of any other shape, and 32 bytes
    /// before the end of the span so that every read stays in bounds; those lines take the per-line path.
    /// </summary>
    public static int ParseAccessRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        // Longest accepted line: "R 0x" + 16 digits + " 64" + "\r\n" = 25 bytes; the vector load reads [p+4, p+20).
        const int Margin = 32;
        int n = span.Length - Margin;
        int p = 0;
        ref byte b0 = ref MemoryMarshal.GetReference(span);
        long ln = line;
        while (p <= n)
        {
            ref byte c = ref Unsafe.Add(ref b0, p);
            // "R 0x" with R/W/X and x in either case: bit 5 of bytes 0 and 3 is the case bit (only 'r'/'R', 'w'/'W',
            // 'x'/'X' map to 'R', 'W', 'X' under that mask).
            uint head = Unsafe.ReadUnaligned<uint>(ref c) & 0xDFFF_FFDFu;
            if ((head & 0xFFFF_FF00u) != 0x5830_2000u)
            {
                break;
            }
            // R/W/X by table (the mix is unpredictable: no branch on it); 0 marks anything else.
            uint k = (byte)head - (uint)'R';
            if (k > 6 || AccessOps[(int)k] == 0)
            {
                break;
            }
            var op = (TraceOp)AccessOps[(int)k];
            int digits = HexRun(ref Unsafe.Add(ref c, 4), out ulong va);
            if (digits == 0)
            {
                break;
            }
            int q = 4 + digits;
            uint size = AccessSizes[(int)k];
            byte after = Unsafe.Add(ref c, q);
            if (after == (byte)' ' && op != TraceOp.Fetch)
            {
                // ` SIZE`: one or two decimal digits, 1..64.
                uint d1 = Unsafe.Add(ref c, q + 1) - (uint)'0';
                uint d2 = Unsafe.Add(ref c, q + 2) - (uint)'0';
                if (d1 > 9)
                {
                    break;
                }
                if (d2 <= 9)
                {
                    size = d1 * 10 + d2;
                    q += 3;
                }
                else
                {
                    size = d1;
                    q += 2;
                }
                if (size - 1 >= 64)
                {
                    break;
                }
                after = Unsafe.Add(ref c, q);
            }
            if (after == (byte)'\r')
            {
                q++;
                after = Unsafe.Add(ref c, q);
            }
            if (after != (byte)'\n')
            {
                break;
            }
            ln++;
            var rec = new TraceRecord { Op = op, Line = ln, Address = va, Size = (byte)size };
            handler.OnRecord(in rec);
            p += q + 1;
        }
        line = ln;
        return p;
    }

    /// <summary>The access operation of 'R' + k (R, W, X), 0 for the letters between.</summary>
    private static ReadOnlySpan<byte> AccessOps => [(byte)TraceOp.Read, 0, 0, 0, 0, (byte)TraceOp.Write, (byte)TraceOp.Fetch];

    /// <summary>The default access size of 'R' + k: 8 bytes for R and W, 4 for X (one instruction).</summary>
    private static ReadOnlySpan<byte> AccessSizes => [8, 0, 0, 0, 0, 8, 4];

    /// <summary>
    /// Decodes the run of hexadecimal digits at <paramref name="c"/> (16 readable bytes): its length (0..16, 16 also
    /// when more digits follow: the caller then finds no line end) and, when non-zero, its value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HexRun(ref byte c, out ulong value)
    {
        if (Ssse3.IsSupported)
        {
            Vector128<byte> v = Vector128.LoadUnsafe(ref c);
            Vector128<byte> dec = v - Vector128.Create((byte)'0');
            Vector128<byte> alpha = (v | Vector128.Create((byte)0x20)) - Vector128.Create((byte)'a');
            Vector128<byte> isDec = Vector128.LessThan(dec, Vector128.Create((byte)10));
            Vector128<byte> isAlpha = Vector128.LessThan(alpha, Vector128.Create((byte)6));
            uint valid = (isDec | isAlpha).ExtractMostSignificantBits();
            int count = BitOperations.TrailingZeroCount(~valid); // the run from lane 0 (≤ 16: bits 16.. of ~valid are 1)
            if (count == 0)
            {
                value = 0;
                return 0;
            }
            // Nibble values (garbage beyond the run is shifted out below), paired into bytes high nibble first, then
            // the 8 bytes read big-endian: lane 0 is the most significant digit.
            Vector128<byte> nib = Vector128.ConditionalSelect(isDec, dec, alpha + Vector128.Create((byte)10)) & Vector128.Create((byte)0x0F);
            Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(nib, Vector128.Create((ushort)0x0110).AsSByte());
            Vector128<byte> packed = Sse2.PackUnsignedSaturate(pairs, pairs);
            ulong all = BinaryPrimitives.ReverseEndianness(packed.AsUInt64().ToScalar());
            value = all >> (4 * (16 - count)); // count ≥ 1: a shift of 0..60
            return count;
        }
        ReadOnlySpan<byte> table = TextTraceParser.HexDigit;
        ulong va = 0;
        int i = 0;
        for (; i < 16; i++)
        {
            uint d = table[Unsafe.Add(ref c, i)];
            if (d > 15)
            {
                break;
            }
            va = (va << 4) | d;
        }
        value = va;
        return i;
    }

}
