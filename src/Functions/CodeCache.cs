using System.Collections.Concurrent;
using System.IO.Compression;
using System.Security.Cryptography;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

/// <summary>Where packages and layers come from: the durable store (grains) in a silo, anything in tests.</summary>
public interface IPackageSource
{
    Task<byte[]> GetAsync(CodeReference code, CancellationToken cancellationToken);
}

/// <summary>
/// Unpacks packages and layers once per silo, by content hash, into <see cref="FunctionsOptions.CodeCachePath"/>:
/// every environment of every version that shares a zip shares its folder.
/// </summary>
public sealed class CodeCache(IPackageSource source, IOptions<FunctionsOptions> options)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _unpacked = new();
    private readonly FunctionsOptions _options = options.Value;

    public async Task<FunctionCode> GetAsync(ResolvedFunction function, string tempDirectory, CancellationToken cancellationToken)
    {
        var package = await UnpackAsync(function.Code, cancellationToken);
        var layers = new string[function.Layers.Count];
        for (var i = 0; i < layers.Length; i++)
        {
            layers[i] = await UnpackAsync(function.Layers[i].Code, cancellationToken);
        }

        return new FunctionCode(function, package, layers, tempDirectory);
    }

    private Task<string> UnpackAsync(CodeReference code, CancellationToken cancellationToken)
    {
        var lazy = _unpacked.GetOrAdd(code.Sha256, sha => new Lazy<Task<string>>(() => UnpackCoreAsync(code)));
        var task = lazy.Value;
        if (task.IsFaulted || task.IsCanceled) _unpacked.TryRemove(new(code.Sha256, lazy));
        return task.WaitAsync(cancellationToken);
    }

    private async Task<string> UnpackCoreAsync(CodeReference code)
    {
        var dir = Path.GetFullPath(Path.Combine(_options.CodeCachePath, code.Sha256));
        if (Directory.Exists(dir)) return dir;
        var bytes = await source.GetAsync(code, CancellationToken.None);
        var staging = dir + ".staging-" + Guid.NewGuid().ToString("n");
        // Off the caller's scheduler: a sensor grain's first invocation must not unzip on its turn.
        await Task.Run(() => Extract(bytes, staging, _options.MaxUnpackedBytes));
        try
        {
            Directory.Move(staging, dir);
        }
        catch (IOException) when (Directory.Exists(dir))
        {
            Directory.Delete(staging, recursive: true); // another silo process sharing the folder won
        }

        return dir;
    }

    /// <summary>The SHA-256 of <paramref name="zip"/> as lower-case hex: a package's name in the store.</summary>
    public static string Hash(ReadOnlySpan<byte> zip) => Convert.ToHexStringLower(SHA256.HashData(zip));

    /// <summary>
    /// Checks that <paramref name="zip"/> is a zip whose entries stay inside the folder and whose unpacked size
    /// is within <paramref name="maxUnpackedBytes"/>; throws <see cref="FunctionValidationException"/> otherwise.
    /// </summary>
    public static void Verify(byte[] zip, long maxUnpackedBytes)
    {
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
            long total = 0;
            foreach (var entry in archive.Entries)
            {
                var name = entry.FullName.Replace('\\', '/');
                if (name.StartsWith('/') || name.Split('/').Contains(".."))
                    throw new FunctionValidationException($"the zip entry '{entry.FullName}' points outside the package");
                total += entry.Length;
            }

            if (total > maxUnpackedBytes)
                throw new FunctionValidationException($"the package unpacks to {total:N0} bytes; at most {maxUnpackedBytes:N0} are allowed");
            if (archive.Entries.Count == 0)
                throw new FunctionValidationException("the zip is empty");
        }
        catch (InvalidDataException ex)
        {
            throw new FunctionValidationException($"the package is not a zip file: {ex.Message}");
        }
    }

    private static void Extract(byte[] zip, string dir, long maxUnpackedBytes)
    {
        Verify(zip, maxUnpackedBytes);
        Directory.CreateDirectory(dir);
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        archive.ExtractToDirectory(dir, overwriteFiles: true);
    }
}
