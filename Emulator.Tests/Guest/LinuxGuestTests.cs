using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using Xunit.Abstractions;

namespace MmuSim.Tests.Guest;

/// <summary>
/// A real Linux guest (issue 16): Debian's arm64 cloud kernel (.ci/install-linux-guest.sh fetches it into
/// /var/cache/mmusim-linux with its qemu_fw_cfg.ko) boots under QEMU (`-M virt -cpu max -smp 2`, TCG) with an
/// initramfs this test writes: traces/linux-guest-src/init.s, assembled here, which maps anonymous pages (some made
/// read-only, some left as holes), a transparent-huge-page region, 2 MiB, 64 KiB and 32 MiB hugetlb pages (blocks,
/// contiguous PTEs, contiguous PMDs) and a tmpfs file (shared and writable, private and read-only, executable),
/// loads qemu_fw_cfg.ko (so the kernel publishes VMCOREINFO to QEMU's vmcoreinfo device) and spins at EL0. The test
/// stops the guest with a vCPU in that loop, imports it with `import qemu-gdb`, and checks `translate` against QEMU's
/// `gva2gpa` on both vCPUs for every range of the kernel's and the process's tables (first, middle and last page,
/// the page after), every page of the init's regions and random VAs; then `import core` of a `dump-guest-memory`
/// ELF, with nothing but the core (TTBR1_EL1 from VMCOREINFO), must list the same kernel mappings.
/// </summary>
[Collection("Console")]
public sealed class LinuxGuestTests : IDisposable
{
    private const string Qemu = "qemu-system-aarch64";
    private const string As = "aarch64-linux-gnu-as";
    private const string Ld = "aarch64-linux-gnu-ld";
    /// <summary>Where .ci/install-linux-guest.sh leaves the kernel Image and qemu_fw_cfg.ko.</summary>
    private static readonly string KernelDir = Environment.GetEnvironmentVariable("MMUSIM_LINUX_CACHE") ?? "/var/cache/mmusim-linux";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-linux-" + Guid.NewGuid().ToString("N"));
    private readonly ITestOutputHelper _log;

    public LinuxGuestTests(ITestOutputHelper log)
    {
        _log = log;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public async Task TranslateAgreesWithQemuOnARealKernelAndItsCoreDumpListsTheSameKernelMap()
    {
        string image = Path.Combine(KernelDir, "Image"), fwcfg = Path.Combine(KernelDir, "qemu_fw_cfg.ko");
        var absent = new[] { Qemu, As, Ld }.Where(t => QemuGuestTests.OnPath(t) is null).Concat(new[] { image, fwcfg }.Where(f => !File.Exists(f))).ToList();
        Skip.If(absent.Count > 0 && Environment.GetEnvironmentVariable("CI") != "true", $"not installed: {string.Join(", ", absent)} (.ci/install-linux-guest.sh installs them)");
        Assert.True(absent.Count == 0, $"not installed under CI: {string.Join(", ", absent)}");

        string obj = Path.Combine(_dir, "init.o"), init = Path.Combine(_dir, "init");
        QemuGuestTests.Run(As, ["-o", obj, Path.Combine(TestPaths.Traces, "linux-guest-src", "init.s")], 30);
        QemuGuestTests.Run(Ld, ["-o", init, obj], 30);
        string initrd = Path.Combine(_dir, "initrd.cpio");
        File.WriteAllBytes(initrd, NewcArchive([("proc", null), ("sys", null), ("tmp", null), ("init", File.ReadAllBytes(init)), ("qemu_fw_cfg.ko", File.ReadAllBytes(fwcfg))]));

        int port = QemuGuestTests.FreePort();
        string qmpPath = Path.Combine(_dir, "qmp.sock"), console = Path.Combine(_dir, "console.log");
        var psi = new ProcessStartInfo(Qemu) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string a in new[]
        {
            "-M", "virt", "-cpu", "max", "-smp", "2", "-m", "512M", "-display", "none", "-nic", "none", "-device", "vmcoreinfo",
            "-serial", $"file:{console}", "-monitor", "none", "-kernel", image, "-initrd", initrd, "-append", "console=ttyAMA0 rdinit=/init",
            "-gdb", $"tcp:127.0.0.1:{port}", "-qmp", $"unix:{qmpPath},server=on,wait=off",
        })
        {
            psi.ArgumentList.Add(a);
        }
        using var qemu = Process.Start(psi)!;
        var qemuErr = new StringBuilder();
        qemu.ErrorDataReceived += (_, e) => { lock (qemuErr) { qemuErr.AppendLine(e.Data); } };
        qemu.BeginErrorReadLine();
        qemu.BeginOutputReadLine();
        try
        {
            using var qmp = QemuGuestTests.Qmp.Connect(qmpPath, qemu, TimeSpan.FromSeconds(15));
            // TCG boots the kernel in 25-60 s on a loaded 2-core machine.
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(240);
            string[] ready;
            while ((ready = ReadyLine(console)).Length == 0)
            {
                Assert.True(DateTime.UtcNow < until && !qemu.HasExited, $"the guest did not print READY within 240 s (stderr: {qemuErr}; console tail: {Tail(console)})");
                Thread.Sleep(500);
            }
            ulong[] regions = ready.Select(h => ulong.Parse(h[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();

            // Stop with a vCPU in the init's loop at EL0 (the other is usually idle in the kernel), so both the
            // process's TTBR0 tables and the kernel's are live in what the debugger reads.
            int[] els = [];
            for (int attempt = 0; attempt < 60; attempt++)
            {
                qmp.Execute("""{"execute":"stop"}""");
                els = [CurrentEl(qmp, 0), CurrentEl(qmp, 1)];
                if (els.Contains(0))
                {
                    break;
                }
                qmp.Execute("""{"execute":"cont"}""");
                Thread.Sleep(200 + 37 * attempt % 300);
            }
            Assert.True(els.Contains(0), $"no vCPU at EL0 after 60 stops (ELs {string.Join(",", els)})");

            string setup = Path.Combine(_dir, "setup.trace");
            var (exit, _, err) = Support.Cli.Run("import", "qemu-gdb", $"127.0.0.1:{port}", "-o", setup, "--timeout", "60");
            Assert.True(exit == 0, err);
            var replayer = await SetupReplay.RunAsync([setup]);
            Assert.Equal(2, replayer.System.Pes.Count);

            var rng = new Random(16);
            int compared = 0, mapped = 0, el0Mapped = 0;
            var differ = new List<string>();
            string[] kernelMaps = new string[2];
            for (int cpu = 0; cpu < 2; cpu++)
            {
                var pe = replayer.System.Pes[cpu];
                Assert.Equal(els[cpu], pe.CurrentEl);
                var trees = TableDump.Trees(pe);
                kernelMaps[cpu] = string.Join("\n", TableDump.Text(trees).Split('\n').SkipWhile(l => !l.Contains("TTBR1_EL1", StringComparison.Ordinal)).Skip(1));
                var vas = new SortedSet<ulong>();
                foreach (var r in trees.SelectMany(t => t.Ranges))
                {
                    ulong page = r.End - r.Start >= 0xfff ? 0x1000UL : 1;
                    foreach (ulong v in new[] { r.Start, r.Start + 0x123, (r.End & ~0xfffUL) + 8, r.Start + ((r.End - r.Start) / 2 & ~0xfffUL), r.End + 1, r.Start - page })
                    {
                        vas.Add(v);
                    }
                }
                foreach (ulong b in regions)
                {
                    for (ulong o = 0; o < 0x40000; o += 0x1000)
                    {
                        vas.Add(b + o + 0x10);
                    }
                }
                for (int i = 0; i < 200; i++)
                {
                    vas.Add((ulong)rng.NextInt64(1L << 48));
                    vas.Add(0xffff_0000_0000_0000UL | (ulong)rng.NextInt64(1L << 48));
                    vas.Add((ulong)rng.NextInt64() << 1);
                }
                foreach (ulong va in vas)
                {
                    string q = qmp.Hmp($"gva2gpa 0x{va:x}", cpu).Trim();
                    string qemuSays = q.StartsWith("gpa: ", StringComparison.Ordinal) ? "0x" + ulong.Parse(q[5..].Replace("0x", "", StringComparison.Ordinal), NumberStyles.HexNumber, CultureInfo.InvariantCulture).ToString("x", CultureInfo.InvariantCulture)
                        : q.Contains("Unmapped", StringComparison.Ordinal) ? "fault"
                        : throw new InvalidOperationException($"gva2gpa 0x{va:x}: unexpected answer '{q}'");
                    // gva2gpa is a data read at the vCPU's EL (with its PAN): the R answer.
                    var read = TranslationProbe.Accesses(pe, va, pe.CurrentEl)[0].Outcome;
                    string ours = read.IsFault ? "fault" : $"0x{read.Pa:x}";
                    compared++;
                    mapped += read.IsFault ? 0 : 1;
                    el0Mapped += !read.IsFault && pe.CurrentEl == 0 && va < 1UL << 48 ? 1 : 0;
                    if (ours != qemuSays)
                    {
                        differ.Add($"cpu {cpu} (EL{pe.CurrentEl}) VA 0x{va:x}: QEMU {qemuSays}, mmusim {ours}");
                    }
                }
            }
            _log.WriteLine($"gva2gpa: {compared} VAs on 2 vCPUs (ELs {els[0]},{els[1]}), {mapped} mapped ({el0Mapped} user VAs at EL0), {compared - differ.Count} equal");
            Assert.True(differ.Count == 0, $"{differ.Count} of {compared} VAs differ:\n{string.Join("\n", differ.Take(40))}");
            Assert.True(compared >= 1000 && el0Mapped >= 300, $"{compared} VAs compared, {el0Mapped} user VAs mapped at EL0");

            // The same machine as an ELF core, nothing else given: the kernel's tables from VMCOREINFO.
            string core = Path.Combine(_dir, "guest.core"), fromCore = Path.Combine(_dir, "core.trace");
            qmp.Execute($$$"""{"execute":"dump-guest-memory","arguments":{"paging":false,"protocol":"file:{{{core}}}"}}""", TimeSpan.FromSeconds(120));
            (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", fromCore);
            Assert.True(exit == 0, err);
            Assert.Contains("inferred from VMCOREINFO: TTBR1_EL1", err, StringComparison.Ordinal);
            _log.WriteLine(err.Trim()); // with "the notes are ... bytes" when QEMU wrote unequal SVE notes (docs/guest.md)
            var coreReplayer = await SetupReplay.RunAsync([fromCore]);
            // The kernel's ranges (the header differs: the core knows no ASID and no TCR_EL1.HA/HD).
            string coreKernelMap = string.Join("\n", TableDump.Text(TableDump.Trees(coreReplayer.System.Pes[0])).Split('\n').Skip(1));
            int kernelCpu = els[0] == 0 ? 1 : 0; // a vCPU in the kernel holds swapper_pg_dir in TTBR1 (KPTI off or not)
            Assert.Equal(kernelMaps[kernelCpu], coreKernelMap);
            _log.WriteLine($"import core: kernel map of {coreKernelMap.Split('\n').Length} lines equal to the gdb import's");
        }
        finally
        {
            if (!qemu.HasExited)
            {
                qemu.Kill(entireProcessTree: true);
                qemu.WaitForExit(10_000);
            }
        }
    }

    /// <summary>The hex words after the init's READY line (empty until it has printed them).</summary>
    private static string[] ReadyLine(string console)
    {
        if (!File.Exists(console))
        {
            return [];
        }
        string text;
        using (var f = new FileStream(console, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        using (var r = new StreamReader(f))
        {
            text = r.ReadToEnd();
        }
        var m = Regex.Match(text, @"READY\r?\n((?: 0x[0-9a-f]{16}){10})\r?\n");
        return m.Success ? m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(h => h != "0x0000000000000000").ToArray() : [];
    }

    private static string Tail(string console)
    {
        if (!File.Exists(console))
        {
            return "(no console output)";
        }
        using var f = new FileStream(console, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var r = new StreamReader(f);
        string text = r.ReadToEnd();
        return text.Length > 2000 ? text[^2000..] : text;
    }

    /// <summary>A vCPU's current EL from HMP `info registers` (PSTATE=... EL1h).</summary>
    private static int CurrentEl(QemuGuestTests.Qmp qmp, int cpu)
    {
        var m = Regex.Match(qmp.Hmp("info registers", cpu), @"PSTATE=[0-9a-f]+ [-NZCV]{4} EL(\d)");
        Assert.True(m.Success, "no PSTATE in info registers");
        return m.Groups[1].Value[0] - '0';
    }

    /// <summary>
    /// A cpio archive in the "newc" format the kernel unpacks as its initramfs (Documentation/driver-api/early-userspace
    /// /buffer-format.rst): per entry a 110-byte ASCII header of 8-digit hex fields, the NUL-terminated name padded to
    /// 4 bytes, the data padded to 4 bytes; "TRAILER!!!" last. A null body is a directory.
    /// </summary>
    public static byte[] NewcArchive(IEnumerable<(string Name, byte[]? Body)> entries)
    {
        var o = new MemoryStream();
        int ino = 1;
        void Entry(string name, uint mode, byte[] body)
        {
            byte[] n = Encoding.ASCII.GetBytes(name + "\0");
            string head = "070701" + string.Concat(new uint[] { (uint)ino++, mode, 0, 0, 1, 0, (uint)body.Length, 0, 0, 0, 0, (uint)n.Length, 0 }
                .Select(v => v.ToString("x8", CultureInfo.InvariantCulture)));
            o.Write(Encoding.ASCII.GetBytes(head));
            o.Write(n);
            o.Write(new byte[(4 - (110 + n.Length) % 4) % 4]);
            o.Write(body);
            o.Write(new byte[(4 - body.Length % 4) % 4]);
        }
        foreach (var (name, body) in entries)
        {
            Entry(name, body is null ? 0x41edu : 0x81edu, body ?? []); // S_IFDIR | 0755, S_IFREG | 0755
        }
        Entry("TRAILER!!!", 0, []);
        return o.ToArray();
    }
}
