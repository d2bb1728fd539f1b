namespace MmuSim.Bits;

/// <summary>
/// Reads a whole configuration file, refusing one longer than a cap: `--config /dev/zero` (or a runaway generated
/// file) would otherwise grow memory until the process dies.
/// </summary>
public static class BoundedFile
{
    /// <summary>Longest configuration file read (model and cell configurations are a few KiB; jailhouse's largest a few hundred).</summary>
    public const int MaxConfigBytes = 16 << 20;

    /// <summary>The bytes of <paramref name="path"/>; a <see cref="ConfigException"/> naming it when it is longer than <paramref name="max"/> or cannot be read.</summary>
    public static byte[] ReadAll(string path, int max = MaxConfigBytes)
    {
        try
        {
            if (Directory.Exists(path))
            {
                throw new ConfigException(path, null, "is a directory");
            }
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
            var buffer = new MemoryStream();
            byte[] chunk = new byte[1 << 16];
            int n;
            while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                if (buffer.Length + n > max)
                {
                    throw new ConfigException(path, null, $"is longer than {max >> 20} MiB; a configuration is not that large");
                }
                buffer.Write(chunk, 0, n);
            }
            return buffer.ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, null, PathErrors.Describe(path, e).Reason);
        }
    }
}
