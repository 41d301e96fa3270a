using System.Text;
using System.Text.RegularExpressions;

namespace Fleet.Grains.Functions;

/// <summary>Thrown when a function, layer, version or alias request is invalid; the message is for the user.</summary>
[GenerateSerializer]
public sealed class FunctionValidationException : Exception
{
    public FunctionValidationException(string message) : base(message)
    {
    }

    public FunctionValidationException(IReadOnlyList<string> errors) : base(string.Join("; ", errors))
    {
    }
}

/// <summary>Thrown when a function, version, alias or layer does not exist.</summary>
[GenerateSerializer]
public sealed class FunctionNotFoundException(string message) : Exception(message);

/// <summary>The limits Lambda documents, checked with one clear message each.</summary>
public static partial class FunctionValidation
{
    public const int MaxTimeoutSeconds = 900;
    public const int MinMemoryMb = 128;
    public const int MaxMemoryMb = 10_240;
    public const int MaxEnvironmentBytes = 4 * 1024;
    public const int MaxLayers = 5;
    public const int MaxDescriptionLength = 256;

    // Anchored with \A and \z throughout: $ also matches before a trailing newline ("fn\n" would be a name).
    [GeneratedRegex(@"\A[a-zA-Z0-9_-]{1,64}\z")]
    private static partial Regex NamePattern();

    // Lambda: an alias name cannot be all digits (that would read as a version).
    [GeneratedRegex(@"\A(?![0-9]+\z)[a-zA-Z0-9_-]{1,128}\z")]
    private static partial Regex AliasPattern();

    // Lambda's Environment key pattern, [a-zA-Z]([a-zA-Z0-9_])+: at least two characters.
    [GeneratedRegex(@"\A[a-zA-Z]([a-zA-Z0-9_])+\z")]
    private static partial Regex EnvironmentKeyPattern();

    // Assembly::Namespace.Type::Method
    [GeneratedRegex(@"\A[^:\s]+::[A-Za-z_][\w.+`]*::[A-Za-z_]\w*\z")]
    private static partial Regex DotNetHandlerPattern();

    // file.export, file may sit in a folder: lib/index.handler
    [GeneratedRegex(@"\A[\w./-]*[\w-]\.[A-Za-z_$][\w$]*\z")]
    private static partial Regex JavaScriptHandlerPattern();

    public static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    public static bool IsValidAlias(string? name) => name is not null && AliasPattern().IsMatch(name);

    /// <summary>Returns every problem with <paramref name="config"/>; empty when it is valid.</summary>
    public static IReadOnlyList<string> Errors(FunctionConfiguration config)
    {
        var errors = new List<string>();
        if (!IsValidName(config.Name))
            errors.Add("name must be 1-64 characters of letters, digits, '-' and '_'");
        if (!FunctionRuntimes.All.Contains(config.Runtime))
            errors.Add($"runtime must be one of: {string.Join(", ", FunctionRuntimes.All)} (got '{config.Runtime}')");
        if (string.IsNullOrWhiteSpace(config.Handler))
            errors.Add("handler is required");
        else if (config.Runtime == FunctionRuntimes.DotNet && !DotNetHandlerPattern().IsMatch(config.Handler))
            errors.Add($"handler '{config.Handler}' must be Assembly::Namespace.Type::Method for the dotnet runtime");
        else if (config.Runtime == FunctionRuntimes.JavaScript && !JavaScriptHandlerPattern().IsMatch(config.Handler))
            errors.Add($"handler '{config.Handler}' must be file.export (for example index.handler) for the javascript runtime");
        if (config.TimeoutSeconds is < 1 or > MaxTimeoutSeconds)
            errors.Add($"timeout must be between 1 and {MaxTimeoutSeconds} seconds (got {config.TimeoutSeconds})");
        if (config.MemoryMb is < MinMemoryMb or > MaxMemoryMb)
            errors.Add($"memorySize must be between {MinMemoryMb} and {MaxMemoryMb} MB (got {config.MemoryMb})");
        var envBytes = 0;
        foreach (var (key, value) in config.Environment)
        {
            if (!EnvironmentKeyPattern().IsMatch(key))
                errors.Add($"environment variable name '{key}' must start with a letter and hold only letters, digits and '_'");
            envBytes += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value ?? "");
        }

        if (envBytes > MaxEnvironmentBytes)
            errors.Add($"environment variables take {envBytes} bytes; at most {MaxEnvironmentBytes} are allowed");
        if (config.Layers.Count > MaxLayers)
            errors.Add($"at most {MaxLayers} layers are allowed (got {config.Layers.Count})");
        foreach (var layer in config.Layers)
        {
            if (!LayerReference.TryParse(layer, out _))
                errors.Add($"layer '{layer}' must be name:version (for example shared-libs:2)");
        }

        if (config.Layers.Distinct(StringComparer.Ordinal).Count() != config.Layers.Count)
            errors.Add("a layer may be listed only once");
        if (config.Description is { Length: > MaxDescriptionLength })
            errors.Add($"description must be at most {MaxDescriptionLength} characters");
        if (config.Isolation is not (FunctionIsolation.InProcess or FunctionIsolation.Process))
            errors.Add($"isolation must be '{FunctionIsolation.InProcess}' or '{FunctionIsolation.Process}'");
        else if (config.Isolation == FunctionIsolation.Process && config.Runtime != FunctionRuntimes.DotNet)
            errors.Add("isolation 'process' applies to the dotnet runtime only (javascript limits memory itself)");
        if (config.ReservedConcurrency is < 0)
            errors.Add("reservedConcurrency must be >= 0");
        return errors;
    }

    public static void Validate(FunctionConfiguration config)
    {
        var errors = Errors(config);
        if (errors.Count > 0) throw new FunctionValidationException(errors);
    }
}

/// <summary>The request conflicts with the current state (for example deleting a version an alias points to).</summary>
[GenerateSerializer]
public sealed class FunctionConflictException(string message) : Exception(message);
