using System.Net;
using System.Net.Sockets;
using System.Text;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// `mmusim import qemu-gdb` against a scripted gdbstub that answers as QEMU's does: a target description split into
/// xi:include files (core registers with `cpsr`; system registers by QEMU's names, `SCTLR` for SCTLR_EL1), read in
/// qXfer chunks; two vCPUs as threads; `p` reads; QEMU's physical-memory mode; `m` replies run-length encoded; and one
/// reply sent with a bad checksum, which the client must refuse (`-`) and get again. The stub checks every packet's
/// checksum and that physical mode is on before any memory read.
/// </summary>
[Collection("Console")]
public sealed class GdbImportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-gdb-" + Guid.NewGuid().ToString("N"));

    public GdbImportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string TargetXml = """<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>aarch64</architecture><xi:include href="aarch64-core.xml"/><xi:include href="system-registers.xml"/></target>""";

    private static string CoreXml()
    {
        var sb = new StringBuilder("""<?xml version="1.0"?><!DOCTYPE feature SYSTEM "gdb-target.dtd"><feature name="org.gnu.gdb.aarch64.core">""");
        for (int i = 0; i < 31; i++)
        {
            sb.Append($"""<reg name="x{i}" bitsize="64"/>""");
        }
        sb.Append("""<reg name="sp" bitsize="64" type="data_ptr"/><reg name="pc" bitsize="64" type="code_ptr"/><reg name="cpsr" bitsize="32" type="cpsr_flags"/></feature>""");
        return sb.ToString();
    }

    /// <summary>System registers from number 100 on, in QEMU's spelling.</summary>
    private static readonly string[] SysRegNames = ["SCTLR", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "HCR_EL2", "VTCR_EL2", "VTTBR_EL2", "ID_AA64MMFR0_EL1",
        "ID_AA64MMFR3_EL1_RESERVED", "ID_AA64PFR1_EL1", "ID_AA64ISAR0_EL1"];

    private static string SysXml() => """<?xml version="1.0"?><!DOCTYPE feature SYSTEM "gdb-target.dtd"><feature name="org.qemu.gdb.aarch64.sysregs">"""
        + string.Concat(SysRegNames.Select((n, i) => $"""<reg name="{n}" bitsize="64" regnum="{100 + i}" group="cp_regs" type="uint64"/>""")) + "</feature>";

    /// <summary>Per thread: register number → value.</summary>
    private static readonly Dictionary<string, Dictionary<int, ulong>> Threads = new()
    {
        ["1"] = new()
        {
            [33] = 0x3c5, // EL1h
            [100] = 0x30d0199d, [101] = 0x0000000280803519, [102] = 0x40000000, [103] = 0, [104] = 0xff,
            [105] = 0x80000001, [106] = 0x80023558, [107] = 0x40010000, [108] = 0x0000000000101122,
            [109] = 0, [110] = 0x0000000000000321, [111] = 0x0221100110212120,
        },
        ["2"] = new()
        {
            [33] = 0x400005, // EL1t, PAN
            [100] = 0x30d0199d, [101] = 0x0000000280803519, [102] = 0x40004000, [103] = 0, [104] = 0xff,
            [105] = 0x80000001, [106] = 0x80023558, [107] = 0x40010000, [108] = 0x0000000000101122,
            [109] = 0, [110] = 0x0000000000000321, [111] = 0x0221100110212120,
        },
    };

    /// <summary>Guest physical memory: a stage-2 table (identity 1 GiB block at 0x40000000) and two stage-1 trees (39-bit VA, start level 1).</summary>
    private static readonly Dictionary<ulong, ulong> Memory = new()
    {
        [0x40010008] = 0x400004fd,           // S2 L1[1]: IPA 1 GiB -> PA 0x40000000, block, S2AP RW, AF
        [0x40000000] = 0x40001003,           // vCPU 0: L1[0] -> L2
        [0x40001000] = 0x40002003,           // L2[0] -> L3
        [0x40002008] = 0x50000403,           // L3[1]: VA 0x1000 -> IPA 0x50000000
        [0x40004000] = 0x40005003,           // vCPU 1: L1[0] -> L2
        [0x40005008] = 0x0040000060000401,   // L2[1]: VA 2 MiB -> IPA 0x60000000, 2 MiB block
    };

    private sealed class Stub
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private bool _phys;
        private bool _badChecksumSent;
        public int Port;
        public readonly List<string> Log = new();

        public Task Start()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            return Task.Run(Serve);
        }

        private void Serve()
        {
            using var client = _listener.AcceptTcpClient();
            var s = client.GetStream();
            string thread = "1";
            try
            {
                while (true)
                {
                    string packet = Read(s);
                    Log.Add(packet);
                    string reply = Answer(packet, ref thread);
                    Write(s, reply, corrupt: !_badChecksumSent && packet == "qfThreadInfo");
                }
            }
            catch (EndOfStreamException)
            {
            }
            finally
            {
                _listener.Stop();
            }
        }

        private string Answer(string p, ref string thread)
        {
            if (p.StartsWith("qXfer:features:read:", StringComparison.Ordinal))
            {
                var parts = p["qXfer:features:read:".Length..].Split(':');
                string doc = parts[0] switch { "target.xml" => TargetXml, "aarch64-core.xml" => CoreXml(), "system-registers.xml" => SysXml(), _ => "" };
                var range = parts[1].Split(',');
                int offset = Convert.ToInt32(range[0], 16), length = Math.Min(Convert.ToInt32(range[1], 16), 200); // small chunks: 'm' then 'l'
                if (offset >= doc.Length)
                {
                    return "l";
                }
                string chunk = doc.Substring(offset, Math.Min(length, doc.Length - offset));
                return (offset + chunk.Length < doc.Length ? "m" : "l") + chunk;
            }
            switch (p)
            {
                case "qfThreadInfo": return "m1,2";
                case "qsThreadInfo": return "l";
                case "Qqemu.PhyMemMode:1": _phys = true; return "OK";
                case "Qqemu.PhyMemMode:0": _phys = false; return "OK";
            }
            if (p.StartsWith("Hg", StringComparison.Ordinal))
            {
                thread = p[2..];
                return Threads.ContainsKey(thread) ? "OK" : "E22";
            }
            if (p.StartsWith('p'))
            {
                int n = Convert.ToInt32(p[1..], 16);
                ulong v = Threads[thread].GetValueOrDefault(n);
                int bytes = n == 33 ? 4 : 8;
                return string.Concat(Enumerable.Range(0, bytes).Select(i => ((v >> (8 * i)) & 0xff).ToString("x2")));
            }
            if (p.StartsWith('m'))
            {
                Assert.True(_phys, "memory read outside physical-memory mode");
                var a = p[1..].Split(',');
                ulong addr = Convert.ToUInt64(a[0], 16);
                int len = Convert.ToInt32(a[1], 16);
                var sb = new StringBuilder();
                for (int i = 0; i < len; i++)
                {
                    ulong at = addr + (ulong)i;
                    ulong word = Memory.GetValueOrDefault(at & ~7UL);
                    sb.Append(((word >> (int)(8 * (at & 7))) & 0xff).ToString("x2"));
                }
                return sb.ToString();
            }
            return "";
        }

        private static string Read(NetworkStream s)
        {
            int b;
            while ((b = s.ReadByte()) != '$')
            {
                if (b < 0)
                {
                    throw new EndOfStreamException();
                }
            }
            var sb = new StringBuilder();
            while ((b = s.ReadByte()) != '#')
            {
                if (b < 0)
                {
                    throw new EndOfStreamException();
                }
                sb.Append((char)b);
            }
            string cs = $"{(char)s.ReadByte()}{(char)s.ReadByte()}";
            Assert.Equal(Checksum(sb.ToString()), Convert.ToByte(cs, 16));
            s.WriteByte((byte)'+');
            return sb.ToString();
        }

        private void Write(NetworkStream s, string reply, bool corrupt)
        {
            string body = RunLength(reply);
            byte sum = Checksum(body);
            if (corrupt)
            {
                _badChecksumSent = true;
                s.Write(Encoding.ASCII.GetBytes($"${body}#{(byte)(sum + 1):x2}"));
                Assert.Equal('-', (char)s.ReadByte()); // the client refuses it ...
            }
            s.Write(Encoding.ASCII.GetBytes($"${body}#{sum:x2}"));
            Assert.Equal('+', (char)s.ReadByte()); // ... and takes the resend
        }

        private static byte Checksum(string body)
        {
            byte sum = 0;
            foreach (char c in body)
            {
                sum += (byte)c;
            }
            return sum;
        }

        /// <summary>Runs of '0' as "0*N" (N = count − 1 + 29), avoiding the counts that would encode '#' or '$'.</summary>
        private static string RunLength(string text)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < text.Length;)
            {
                int run = 1;
                while (text[i] == '0' && i + run < text.Length && text[i + run] == '0' && run < 90)
                {
                    run++;
                }
                if (run > 3 && run - 1 + 29 is not (35 or 36 or 42))
                {
                    sb.Append('0').Append('*').Append((char)(run - 1 + 29));
                }
                else
                {
                    sb.Append(text[i], run);
                }
                i += run;
            }
            return sb.ToString();
        }
    }

    [Fact]
    public async Task ImportsEveryVcpuAndTheTablesReachableFromIt()
    {
        var stub = new Stub();
        var serving = stub.Start();
        string setup = Path.Combine(_dir, "live.trace");
        var (exit, _, err) = Support.Cli.Run("import", "qemu-gdb", $"127.0.0.1:{stub.Port}", "-o", setup, "--timeout", "20");
        await serving.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("mmusim import qemu-gdb: 2 vCPU(s), 6 table(s), 28672 bytes of tables; not in the target description: SCTLR_EL2, TCR_EL2, TTBR0_EL2, TTBR1_EL2, MAIR_EL2, ID_AA64MMFR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR0_EL1, ID_AA64ISAR1_EL1\n",
            err.Replace("\r\n", "\n"));
        Assert.Equal(0, exit);
        Assert.Equal($"""
            # setup imported by `mmusim import qemu-gdb` from 127.0.0.1:{stub.Port}: 2 vCPUs, 6 translation tables read in physical-memory mode
            # not in the target description (left at reset values): SCTLR_EL2, TCR_EL2, TTBR0_EL2, TTBR1_EL2, MAIR_EL2, ID_AA64MMFR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR0_EL1, ID_AA64ISAR1_EL1
            mem  0x40000000 0x40001003
            mem  0x40001000 0x40002003
            mem  0x40002008 0x50000403
            mem  0x40004000 0x40005003
            mem  0x40005008 0x40000060000401
            mem  0x40010008 0x400004fd
            cpu  0
            # gdb thread 1, PSTATE 0x3c5
            reg  TCR_EL1 0x280803519
            reg  TTBR0_EL1 0x40000000
            reg  TTBR1_EL1 0x0
            reg  MAIR_EL1 0xff
            reg  HCR_EL2 0x80000001
            reg  VTCR_EL2 0x80023558
            reg  VTTBR_EL2 0x40010000
            reg  ID_AA64MMFR0_EL1 0x101122
            reg  ID_AA64MMFR3_EL1 0x0
            reg  ID_AA64PFR1_EL1 0x321
            reg  ID_AA64ISAR0_EL1 0x221100110212120
            reg  SCTLR_EL1 0x30d0199d
            el   1
            cpu  1
            # gdb thread 2, PSTATE 0x400005
            reg  TCR_EL1 0x280803519
            reg  TTBR0_EL1 0x40004000
            reg  TTBR1_EL1 0x0
            reg  MAIR_EL1 0xff
            reg  HCR_EL2 0x80000001
            reg  VTCR_EL2 0x80023558
            reg  VTTBR_EL2 0x40010000
            reg  ID_AA64MMFR0_EL1 0x101122
            reg  ID_AA64MMFR3_EL1 0x0
            reg  ID_AA64PFR1_EL1 0x321
            reg  ID_AA64ISAR0_EL1 0x221100110212120
            reg  SCTLR_EL1 0x30d0199d
            el   1
            pstate PAN 1

            """.Replace("\r\n", "\n"), File.ReadAllText(setup));
        Assert.Contains("Qqemu.PhyMemMode:1", stub.Log);

        var replayer = await SetupReplay.RunAsync([setup]);
        Assert.Equal(0x5000_0008UL, TranslationProbe.Accesses(replayer.System.Pes[0], 0x1008, 1)[0].Outcome.Pa);
        Assert.Equal(0x6000_1008UL, TranslationProbe.Accesses(replayer.System.Pes[1], 0x20_1008, 1)[0].Outcome.Pa);
    }

    [Fact]
    public void NothingListeningIsAnError()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var (exit, _, err) = Support.Cli.Run("import", "qemu-gdb", $"127.0.0.1:{port}", "-o", Path.Combine(_dir, "x.trace"), "--timeout", "5");
        Assert.Equal(2, exit);
        Assert.StartsWith($"mmusim import qemu-gdb: 127.0.0.1:{port}: ", err);
        Assert.False(File.Exists(Path.Combine(_dir, "x.trace")));
    }

    [Theory]
    [InlineData("0*\"", "000000")]     // '"' is 34: 5 more
    [InlineData("ab}\u0003c", "ab#c")]  // } escapes: '#' ^ 0x20 = 0x03
    [InlineData("x*#", "xxxxxxx")]      // '#' (35) would be 6 more: decoded as written all the same
    public void RunLengthAndEscapesDecode(string raw, string decoded) =>
        Assert.Equal(decoded, GdbRemote.Decode(Encoding.ASCII.GetBytes(raw)));
}
