using System.CommandLine;
using System.Text;
using MmuSim.Registers;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim import core FILE -o SETUP.trace [--reg NAME=VALUE]...`: a guest's ELF core or kdump vmcore as a setup trace.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var import = new Command("import", "Make a setup trace from a guest's state: `import core` reads an ELF core (QEMU dump-guest-memory, Linux kdump vmcore).");
        var file = new Argument<string>("file") { Description = "The ELF core: QEMU's dump-guest-memory output (uncompressed ELF) or a kdump vmcore." };
        var output = new Option<string>("--output", "-o") { Description = "The setup trace to write ('-' for standard output).", Required = true };
        var reg = new Option<string[]>("--reg") { Description = "A register the core does not hold, NAME=VALUE for every vCPU (e.g. TTBR1_EL1=0x40a1b000) or cpuN:NAME=VALUE for vCPU N alone (e.g. cpu1:TTBR0_EL1=0x4a000000); repeatable.", AllowMultipleArgumentsPerToken = false };
        var core = new Command("core", "An ELF core of an AArch64 guest as a setup trace: memory by `load` lines into the core file, one cpu block per vCPU (EL, PSTATE.PAN), registers from --reg or VMCOREINFO; says what is missing.")
        {
            file, output, reg,
        };
        core.SetAction(pr =>
        {
            var given = new List<(int?, SysReg, ulong)>();
            foreach (string r in pr.GetValue(reg) ?? [])
            {
                if (!TryRegOption(r, out int? vcpu, out var name, out ulong value))
                {
                    Console.Error.WriteLine($"mmusim import core: bad --reg '{r}' ([cpuN:]NAME=VALUE: a vCPU number, a register of the trace format, a 64-bit number)");
                    return 1;
                }
                given.Add((vcpu, name, value));
            }
            string path = pr.GetValue(file)!;
            string outPath = pr.GetValue(output)!;
            ElfCore elf;
            try
            {
                elf = ElfCore.Read(path);
            }
            catch (TraceFormatException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"mmusim: {path}: {e.Message}");
                return 2;
            }
            // `load` names the core from the trace's folder (docs/trace-format.md): relative when both are in one tree.
            string full = Path.GetFullPath(path);
            string inTrace = outPath == "-" ? full : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(outPath))!, full);
            if (inTrace.Contains(' ') || inTrace.Contains('\t') || inTrace.Contains('#'))
            {
                Console.Error.WriteLine($"mmusim import core: {inTrace}: a `load` file name cannot hold spaces or '#' (link the core under another name)");
                return 1;
            }
            CoreImport.Result result;
            try
            {
                result = CoreImport.Build(elf, inTrace, given);
            }
            catch (TraceFormatException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"mmusim import core: {e.Message}");
                return 1;
            }
            if (!WriteSetup("mmusim import core", outPath, [path], result.Text))
            {
                return 1;
            }
            if (elf.Repaired is { } fix)
            {
                Console.Error.WriteLine($"mmusim import core: {elf.Source}: {fix}");
            }
            Console.Error.WriteLine($"mmusim import core: {elf.Segments.Count} memory segment(s), {elf.Cpus.Count} vCPU(s)"
                + (result.Inferred.Count > 0 ? $"; inferred from VMCOREINFO: {string.Join(", ", result.Inferred)}" : "")
                + (result.Missing.Count > 0 ? $"; missing (give them with --reg NAME=VALUE): {string.Join(", ", result.Missing)}" : ""));
            return 0;
        });
        import.Subcommands.Add(core);
        import.Subcommands.Add(QemuGdb());
        import.Subcommands.Add(ImportKvmCommand.Create());
        return import;
    }

    /// <summary>
    /// Writes an import's setup trace (its parts in order) through OutputFile: nothing is replaced until the whole text
    /// is written, and an output naming one of the inputs is refused. False after a one-line error (exit 1).
    /// </summary>
    internal static bool WriteSetup(string me, string outPath, string[] inputs, params string[] parts)
    {
        try
        {
            using var o = OutputFile.Open(outPath, inputs);
            foreach (string part in parts)
            {
                o.Stream.Write(Encoding.UTF8.GetBytes(part));
            }
            o.Stream.Flush();
            o.Commit();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{me}: {e.Message}");
            return false;
        }
    }

    /// <summary>`--reg [cpuN:]NAME=VALUE`: the vCPU (null: every vCPU), the register, the value.</summary>
    internal static bool TryRegOption(string text, out int? cpu, out SysReg reg, out ulong value)
    {
        cpu = null;
        reg = default;
        value = 0;
        int colon = text.IndexOf(':');
        int eq = text.IndexOf('=');
        if (colon >= 0 && (eq < 0 || colon < eq))
        {
            string prefix = text[..colon];
            if (!prefix.StartsWith("cpu", StringComparison.OrdinalIgnoreCase)
                || !int.TryParse(prefix.AsSpan(3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n > 255)
            {
                return false;
            }
            cpu = n;
            text = text[(colon + 1)..];
            eq = text.IndexOf('=');
        }
        return eq > 0 && SysRegNames.TryParse(Encoding.ASCII.GetBytes(text[..eq]), out reg) && TranslateCommand.TryNumber(text[(eq + 1)..], out value);
    }

    private static Command QemuGdb()
    {
        var target = new Argument<string>("target") { Description = "HOST:PORT of a stopped QEMU's gdbstub (-s is localhost:1234)." };
        var output = new Option<string>("--output", "-o") { Description = "The setup trace to write ('-' for standard output).", Required = true };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the connection and for each reply (default 10).", DefaultValueFactory = _ => 10 };
        var maxTables = new Option<int>("--max-tables") { Description = "Most translation tables read (default 16384).", DefaultValueFactory = _ => 16384 };
        var cmd = new Command("qemu-gdb", "Read a stopped QEMU through its gdbstub: every vCPU's translation registers (by the target description's names) and every table reachable from them (physical-memory mode), as a setup trace with one cpu block per vCPU.")
        {
            target, output, timeout, maxTables,
        };
        cmd.SetAction(pr =>
        {
            string where = pr.GetValue(target)!;
            int colon = where.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(where[(colon + 1)..], out int port) || port is <= 0 or > 65535)
            {
                Console.Error.WriteLine($"mmusim import qemu-gdb: '{where}' is not HOST:PORT");
                return 1;
            }
            int seconds = Math.Max(1, pr.GetValue(timeout));
            GdbImport.Result result;
            try
            {
                // No Nagle: every packet is a small write followed by a read, and the acknowledgement `+` then the next
                // packet would otherwise wait for the stub's delayed ACK (40 ms each: 2,000 packets of a Linux guest's
                // tables took 104 s instead of 3).
                using var client = new System.Net.Sockets.TcpClient { NoDelay = true };
                if (!client.ConnectAsync(where[..colon], port).Wait(TimeSpan.FromSeconds(seconds)))
                {
                    Console.Error.WriteLine($"mmusim import qemu-gdb: no answer from {where} within {seconds} s");
                    return 2;
                }
                var stream = client.GetStream();
                stream.ReadTimeout = seconds * 1000;
                stream.WriteTimeout = seconds * 1000;
                using var gdb = new GdbRemote(new System.IO.BufferedStream(stream));
                result = GdbImport.Import(gdb, where, pr.GetValue(maxTables));
            }
            catch (Exception e) when (e is GdbProtocolException or IOException or System.Net.Sockets.SocketException or AggregateException or System.Xml.XmlException or FormatException)
            {
                Console.Error.WriteLine($"mmusim import qemu-gdb: {where}: {(e is AggregateException a ? a.InnerException?.Message : e.Message)}");
                return 2;
            }
            if (!WriteSetup("mmusim import qemu-gdb", pr.GetValue(output)!, [], result.Text))
            {
                return 1;
            }
            Console.Error.WriteLine($"mmusim import qemu-gdb: {result.Cpus} vCPU(s), {result.Tables} table(s), {result.Bytes} bytes of tables"
                + (result.Missing.Count > 0 ? $"; not in the target description: {string.Join(", ", result.Missing)}" : ""));
            return 0;
        });
        return cmd;
    }
}
