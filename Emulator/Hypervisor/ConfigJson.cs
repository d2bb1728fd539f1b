using System.Text;
using System.Text.Json;
using MmuSim.Bits;

namespace MmuSim.Hypervisor;

public enum ConfigValueKind : byte
{
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// <summary>A member of a JSON object, with where its name was written.</summary>
public sealed record ConfigProperty(string Name, SourcePos NamePos, ConfigValue Value);

/// <summary>
/// A JSON value that remembers where it was written. System.Text.Json's DOM forgets positions, and a
/// configuration error has to point at the file, line and column of the field at fault.
/// </summary>
public sealed class ConfigValue
{
    public ConfigValueKind Kind { get; init; }
    public SourcePos Pos { get; init; }
    /// <summary>The string value, or a number's text as written.</summary>
    public string Text { get; init; } = "";
    public List<ConfigProperty> Properties { get; } = new();
    public List<ConfigValue> Items { get; } = new();

    public string KindName => Kind switch
    {
        ConfigValueKind.Object => "an object",
        ConfigValueKind.Array => "an array",
        ConfigValueKind.String => "a string",
        ConfigValueKind.Number => "a number",
        ConfigValueKind.Null => "null",
        _ => "a boolean",
    };
}

/// <summary>
/// Reads a JSON file (comments and trailing commas allowed, as hand-written configurations have them) into
/// <see cref="ConfigValue"/>s with positions, using <see cref="Utf8JsonReader"/> token offsets.
/// </summary>
public static class ConfigJson
{
    public static ConfigValue Parse(byte[] utf8, string file)
    {
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == (byte)'\n')
            {
                lineStarts.Add(i + 1);
            }
        }
        if (Bits.Utf8Text.FirstInvalid(utf8) is var (badLine, badColumn))
        {
            throw new ConfigException(new SourcePos(file, badLine, badColumn), "invalid JSON: this byte is not UTF-8 text");
        }
        int start = utf8.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        var reader = new Utf8JsonReader(utf8.AsSpan(start), new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            MaxDepth = 64,
        });
        var ctx = new Context(file, lineStarts, start);
        try
        {
            if (!reader.Read())
            {
                throw new ConfigException(new SourcePos(file, 1, 1), "the file is empty: expected a JSON object");
            }
            var root = ReadValue(ref reader, ctx);
            if (reader.Read())
            {
                throw new ConfigException(ctx.Pos(reader.TokenStartIndex), "unexpected content after the top-level value");
            }
            return root;
        }
        catch (JsonException e)
        {
            int line = (int)(e.LineNumber ?? 0) + 1;
            int col = (int)(e.BytePositionInLine ?? 0) + 1;
            string msg = e.Message;
            int cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut < 0)
            {
                cut = msg.IndexOf(" Path:", StringComparison.Ordinal);
            }
            if (cut > 0)
            {
                msg = msg[..cut].TrimEnd(' ', '|', '.');
            }
            throw new ConfigException(new SourcePos(file, line, col), $"invalid JSON: {msg}");
        }
    }

    private sealed class Context(string file, List<int> lineStarts, int bomBytes)
    {
        public SourcePos Pos(long offset)
        {
            int at = (int)offset + bomBytes;
            int idx = lineStarts.BinarySearch(at);
            if (idx < 0)
            {
                idx = ~idx - 1;
            }
            return new SourcePos(file, idx + 1, at - lineStarts[idx] + 1);
        }
    }

    private static ConfigValue ReadValue(ref Utf8JsonReader r, Context ctx)
    {
        var pos = ctx.Pos(r.TokenStartIndex);
        switch (r.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var obj = new ConfigValue { Kind = ConfigValueKind.Object, Pos = pos };
                while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                {
                    var namePos = ctx.Pos(r.TokenStartIndex);
                    string name = r.GetString()!;
                    if (obj.Properties.Exists(p => p.Name == name))
                    {
                        throw new ConfigException(namePos, $"\"{name}\" is given twice in the same object");
                    }
                    r.Read();
                    obj.Properties.Add(new ConfigProperty(name, namePos, ReadValue(ref r, ctx)));
                }
                return obj;
            }
            case JsonTokenType.StartArray:
            {
                var arr = new ConfigValue { Kind = ConfigValueKind.Array, Pos = pos };
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    arr.Items.Add(ReadValue(ref r, ctx));
                }
                return arr;
            }
            case JsonTokenType.String:
                return new ConfigValue { Kind = ConfigValueKind.String, Pos = pos, Text = r.GetString()! };
            case JsonTokenType.Number:
                return new ConfigValue { Kind = ConfigValueKind.Number, Pos = pos, Text = Encoding.UTF8.GetString(r.ValueSpan) };
            case JsonTokenType.True:
                return new ConfigValue { Kind = ConfigValueKind.True, Pos = pos };
            case JsonTokenType.False:
                return new ConfigValue { Kind = ConfigValueKind.False, Pos = pos };
            default:
                return new ConfigValue { Kind = ConfigValueKind.Null, Pos = pos };
        }
    }
}
