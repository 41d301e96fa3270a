using System.IO.Compression;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Fleet.Functions.Tests;

/// <summary>Builds real function packages for tests: C# compiled with Roslyn, JavaScript as text, zipped.</summary>
public static class FunctionPackages
{
    private static readonly Lazy<MetadataReference[]> Framework = new(() =>
    {
        var dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var refs = Directory.GetFiles(dir, "*.dll")
            .Where(f => IsManaged(f))
            .Select(f => (MetadataReference)MetadataReference.CreateFromFile(f))
            .ToList();
        refs.Add(MetadataReference.CreateFromFile(typeof(IFunctionContext).Assembly.Location));
        return refs.ToArray();
    });

    private static bool IsManaged(string path)
    {
        try
        {
            AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    // What an SDK-style project's ImplicitUsings give a function author.
    private const string ImplicitUsings = "global using System; global using System.Collections.Generic; global using System.Linq; global using System.Threading; global using System.Threading.Tasks;";

    /// <summary>Compiles <paramref name="source"/> into an assembly named <paramref name="assemblyName"/>; extra references are other compiled images.</summary>
    public static byte[] Compile(string assemblyName, string source, params byte[][] references)
    {
        var compilation = CSharpCompilation.Create(
            assemblyName,
            [
                CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest)),
                CSharpSyntaxTree.ParseText(ImplicitUsings, new CSharpParseOptions(LanguageVersion.Latest)),
            ],
            Framework.Value.Concat(references.Select(r => MetadataReference.CreateFromImage(r))),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        if (!result.Success)
        {
            throw new InvalidOperationException("test function does not compile:\n" + string.Join("\n", result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        }

        return stream.ToArray();
    }

    /// <summary>A zip of the given files (path inside the zip -> content).</summary>
    public static byte[] Zip(params (string Path, byte[] Content)[] files)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                var entry = zip.CreateEntry(path);
                using var s = entry.Open();
                s.Write(content);
            }
        }

        return stream.ToArray();
    }

    public static byte[] Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    /// <summary>Extracts <paramref name="zip"/> into a fresh folder under the test's temp root.</summary>
    public static string Extract(byte[] zip)
    {
        var dir = Path.Combine(Path.GetTempPath(), "fleet-fn-tests", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(dir);
        using var stream = new MemoryStream(zip);
        ZipFile.ExtractToDirectory(stream, dir);
        return dir;
    }
}
