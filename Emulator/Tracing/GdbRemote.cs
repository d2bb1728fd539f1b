using System.Globalization;
using System.Text;
using System.Xml;

namespace MmuSim.Tracing;

/// <summary>A GDB remote serial protocol failure: a bad checksum after retries, an error reply, a closed connection.</summary>
public sealed class GdbProtocolException(string message) : Exception(message);

/// <summary>
/// A client of the GDB remote serial protocol (the "Remote Protocol" appendix of the GDB manual): packets
/// `$data#cc` with a modulo-256 checksum in two hex digits, acknowledged by `+` (or `-`: send again); replies decoded
/// from run-length encoding (`X*n`: X repeated n−29 more times) and `}` escapes (next byte XOR 0x20). Enough of it to
/// read a stopped target: the target description (qXfer:features:read, with its xi:include files), threads
/// (qfThreadInfo/qsThreadInfo, Hg), registers by number (`p`) and memory (`m`).
/// </summary>
public sealed class GdbRemote(Stream stream) : IDisposable
{
    private readonly Stream _stream = stream;
    private readonly byte[] _one = new byte[1];
    /// <summary>Most bytes asked for by one `m` packet (a reply is twice that in hex; QEMU's limit is 4096 bytes of packet).</summary>
    public int MemoryChunk { get; set; } = 1024;

    /// <summary>Packets sent (for tests and reports).</summary>
    public int PacketsSent { get; private set; }

    public void Dispose() => _stream.Dispose();

    /// <summary>Sends one command and returns its reply (an `E NN` reply is an error).</summary>
    public string Command(string command, bool errorsAreReplies = false)
    {
        Send(command);
        string reply = Receive();
        if (!errorsAreReplies && reply.Length == 3 && reply[0] == 'E' && char.IsAsciiHexDigit(reply[1]) && char.IsAsciiHexDigit(reply[2]))
        {
            throw new GdbProtocolException($"'{Shorten(command)}' failed: {reply}");
        }
        return reply;
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "..." : s;

    /// <summary>Sends `$data#cc` until the target acknowledges it with `+` (three tries).</summary>
    public void Send(string data)
    {
        byte sum = 0;
        foreach (char c in data)
        {
            sum += (byte)c;
        }
        byte[] packet = Encoding.ASCII.GetBytes($"${data}#{sum:x2}");
        for (int attempt = 0; attempt < 3; attempt++)
        {
            _stream.Write(packet);
            _stream.Flush();
            PacketsSent++;
            while (true)
            {
                int b = ReadByte();
                if (b == '+')
                {
                    return;
                }
                if (b == '-')
                {
                    break; // resend
                }
                // Anything else before the ack (a stray notification byte) is skipped.
            }
        }
        throw new GdbProtocolException($"'{Shorten(data)}' was not acknowledged after 3 tries");
    }

    /// <summary>Receives one packet, checks its checksum (answering `-` and reading the resend when it is wrong), acknowledges it, and decodes it.</summary>
    public string Receive()
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int b;
            do
            {
                b = ReadByte();
            }
            while (b != '$');
            var raw = new List<byte>();
            byte sum = 0;
            while ((b = ReadByte()) != '#')
            {
                raw.Add((byte)b);
                sum += (byte)b;
            }
            int hi = HexValue(ReadByte()), lo = HexValue(ReadByte());
            if (hi < 0 || lo < 0 || (byte)(hi * 16 + lo) != sum)
            {
                _stream.WriteByte((byte)'-');
                _stream.Flush();
                continue;
            }
            _stream.WriteByte((byte)'+');
            _stream.Flush();
            return Decode(raw);
        }
        throw new GdbProtocolException("three packets in a row with a bad checksum");
    }

    /// <summary>Undoes run-length encoding and `}` escapes.</summary>
    public static string Decode(IReadOnlyList<byte> raw)
    {
        var sb = new StringBuilder(raw.Count);
        for (int i = 0; i < raw.Count; i++)
        {
            byte c = raw[i];
            if (c == '}' && i + 1 < raw.Count)
            {
                sb.Append((char)(raw[++i] ^ 0x20));
            }
            else if (c == '*' && i + 1 < raw.Count && sb.Length > 0)
            {
                int repeat = raw[++i] - 29;
                sb.Append(sb[^1], Math.Max(0, repeat));
            }
            else
            {
                sb.Append((char)c);
            }
        }
        return sb.ToString();
    }

    private int ReadByte()
    {
        if (_stream.Read(_one, 0, 1) != 1)
        {
            throw new GdbProtocolException("the connection closed");
        }
        return _one[0];
    }

    private static int HexValue(int c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>An object read with qXfer (`m` = more follows, `l` = last), e.g. features/target.xml.</summary>
    public string ReadXfer(string obj, string annex)
    {
        var sb = new StringBuilder();
        while (true)
        {
            string reply = Command($"qXfer:{obj}:read:{annex}:{sb.Length:x},ffb");
            if (reply.Length == 0 || (reply[0] != 'm' && reply[0] != 'l'))
            {
                throw new GdbProtocolException($"qXfer:{obj}:read:{annex}: unexpected reply '{Shorten(reply)}'");
            }
            sb.Append(reply, 1, reply.Length - 1);
            if (reply[0] == 'l')
            {
                return sb.ToString();
            }
        }
    }

    /// <summary>Registers of the target description by name (case as given) → (number, bits), following xi:include.</summary>
    public Dictionary<string, (int Number, int Bits)> Registers()
    {
        var regs = new Dictionary<string, (int, int)>(StringComparer.OrdinalIgnoreCase);
        int next = 0;
        void Feature(string annex, int depth)
        {
            if (depth > 8)
            {
                throw new GdbProtocolException("target description includes nest more than 8 deep");
            }
            // GDB's descriptions use xi:include without declaring the prefix (gdb-target.dtd supplies it): read without
            // namespace processing, and never resolve the DTD.
            using var reader = new XmlTextReader(new StringReader(ReadXfer("features", annex)))
            {
                Namespaces = false,
                DtdProcessing = DtdProcessing.Ignore,
                XmlResolver = null,
            };
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element)
                {
                    continue;
                }
                if (reader.Name is "xi:include" or "include" && reader.GetAttribute("href") is { Length: > 0 } href)
                {
                    Feature(href, depth + 1);
                }
                else if (reader.Name == "reg" && reader.GetAttribute("name") is { Length: > 0 } name)
                {
                    int number = reader.GetAttribute("regnum") is { } rn ? int.Parse(rn, CultureInfo.InvariantCulture) : next;
                    int bits = int.Parse(reader.GetAttribute("bitsize") ?? "0", CultureInfo.InvariantCulture);
                    regs.TryAdd(name, (number, bits));
                    next = number + 1;
                }
            }
        }
        Feature("target.xml", 0);
        return regs;
    }

    /// <summary>Every thread id (qfThreadInfo, then qsThreadInfo until `l`).</summary>
    public List<string> Threads()
    {
        var ids = new List<string>();
        string reply = Command("qfThreadInfo");
        while (reply.StartsWith('m'))
        {
            ids.AddRange(reply[1..].Split(',', StringSplitOptions.RemoveEmptyEntries));
            reply = Command("qsThreadInfo");
        }
        return ids;
    }

    /// <summary>Register <paramref name="number"/> of the thread selected by Hg, as the target's little-endian bytes; null when it has none.</summary>
    public ulong? ReadRegister(int number)
    {
        string reply = Command($"p{number:x}", errorsAreReplies: true);
        if (reply.Length < 2 || reply[0] == 'E' && reply.Length == 3 || reply.Contains('x'))
        {
            return null; // `E NN`, or `xx` for an unavailable value
        }
        ulong value = 0;
        for (int i = 0; i < Math.Min(16, reply.Length - 1); i += 2)
        {
            value |= (ulong)byte.Parse(reply.AsSpan(i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) << (4 * i);
        }
        return value;
    }

    /// <summary>Reads <paramref name="length"/> bytes at <paramref name="address"/> in chunks of <see cref="MemoryChunk"/>.</summary>
    public byte[] ReadMemory(ulong address, int length)
    {
        var data = new byte[length];
        for (int done = 0; done < length;)
        {
            int n = Math.Min(MemoryChunk, length - done);
            string reply = Command($"m{address + (ulong)done:x},{n:x}");
            if (reply.Length != 2 * n)
            {
                throw new GdbProtocolException($"reading {n} bytes at 0x{address + (ulong)done:x}: {reply.Length / 2} bytes came back");
            }
            Convert.FromHexString(reply).CopyTo(data, done);
            done += n;
        }
        return data;
    }
}
