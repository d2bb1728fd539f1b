using System.Runtime.CompilerServices;
using System.Text;

namespace MmuSim.Tracing;

/// <summary>
/// The codes and names of an enum the trace formats carry (registers, AT and TLBI operations, record tags): the binary
/// format's code is the enum's value, the text format's name its member name. Built once from the declared values,
/// never from declaration order, so a reader's limits ("code ≤ N") follow the enum (docs/binary-format.md; a test
/// checks that document's tables against the enums).
/// </summary>
internal static class WireCodes<T>
    where T : struct, Enum
{
    /// <summary>The ASCII name of each code, null where no member has that value.</summary>
    private static readonly byte[]?[] Names = Build();

    /// <summary>The members, in ascending code order, for lookups by name.</summary>
    private static readonly T[] Values = Enum.GetValues<T>();

    private static byte[]?[] Build()
    {
        if (Unsafe.SizeOf<T>() != 1)
        {
            throw new InvalidOperationException($"{typeof(T).Name}: a wire code is one byte");
        }
        var names = new byte[]?[256];
        foreach (T v in Enum.GetValues<T>())
        {
            names[Code(v)] = Encoding.ASCII.GetBytes(v.ToString());
        }
        return names;
    }

    /// <summary>The code of <paramref name="value"/> (its value as a byte).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Code(T value) => Unsafe.As<T, byte>(ref value);

    /// <summary>True when some member has the value <paramref name="code"/>.</summary>
    public static bool IsDefined(uint code) => code < 256 && Names[code] is not null;

    /// <summary>The member with value <paramref name="code"/> (the caller has checked <see cref="IsDefined"/>).</summary>
    public static T FromCode(uint code)
    {
        byte b = (byte)code;
        return Unsafe.As<byte, T>(ref b);
    }

    /// <summary>The member's name as the text format spells it.</summary>
    public static ReadOnlySpan<byte> Name(T value) => Names[Code(value)];

    /// <summary>The member named <paramref name="name"/>, ASCII case ignored.</summary>
    public static bool TryParse(ReadOnlySpan<byte> name, out T value)
    {
        foreach (T v in Values)
        {
            if (Ascii.EqualsIgnoreCase(name, Names[Code(v)]!))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }
}
