using System.Text.RegularExpressions;

namespace Fleet.Grains.Functions;

/// <summary>
/// The one parser of a function reference in Lambda's <c>FunctionName</c> forms: the name (<c>my-function</c>), the
/// function ARN (<c>arn:aws:lambda:us-west-2:123456789012:function:my-function</c>) or the partial ARN
/// (<c>123456789012:function:my-function</c>), each optionally followed by <c>:QUALIFIER</c> (<c>$LATEST</c>, a version
/// number or an alias). The region and account are not compared: there is one platform.
/// </summary>
public static partial class FunctionNames
{
    /// <summary>The forms, as a refusal lists them.</summary>
    public const string Forms = "NAME, ACCOUNT:function:NAME or arn:aws:lambda:REGION:ACCOUNT:function:NAME, each optionally with :QUALIFIER";

    // arn:PARTITION:lambda:REGION:ACCOUNT:function:REST
    [GeneratedRegex(@"^arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:(?<rest>.*)$")]
    private static partial Regex FunctionArnPattern();

    // ACCOUNT:function:REST
    [GeneratedRegex(@"^\d{12}:function:(?<rest>.*)$")]
    private static partial Regex PartialArnPattern();

    /// <summary>
    /// The function's name and qualifier (null when none) that <paramref name="value"/> names in any of Lambda's forms;
    /// a malformed value throws <see cref="FunctionValidationException"/> naming <paramref name="field"/> and the reason.
    /// Whether the function exists is not checked.
    /// </summary>
    public static (string Name, string? Qualifier) Parse(string value, string field)
    {
        string rest;
        if (value.StartsWith("arn:", StringComparison.Ordinal))
        {
            if (FunctionArnPattern().Match(value) is not { Success: true } arn)
                throw new FunctionValidationException($"{field} '{value}' is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])");
            rest = arn.Groups["rest"].Value;
        }
        else if (PartialArnPattern().Match(value) is { Success: true } partial)
        {
            rest = partial.Groups["rest"].Value;
        }
        else if (value.Contains(":function:", StringComparison.Ordinal))
        {
            throw new FunctionValidationException($"{field} '{value}' is not a partial function ARN: that is ACCOUNT:function:NAME[:QUALIFIER] with a 12-digit account");
        }
        else
        {
            rest = value;
        }

        var parts = rest.Split(':');
        if (parts.Length > 2)
            throw new FunctionValidationException($"{field} '{value}' is not a function name or ARN: {Forms}");
        var name = parts[0];
        var qualifier = parts.Length == 2 ? parts[1] : null;
        if (!FunctionValidation.IsValidName(name))
            throw new FunctionValidationException($"{field} '{value}' does not name a function: a name is 1-64 letters, digits, '-' or '_' ({Forms})");
        if (qualifier is not null && !IsValidQualifier(qualifier))
            throw new FunctionValidationException($"{field} '{value}' has an invalid qualifier '{qualifier}': $LATEST, a version number or an alias");
        return (name, qualifier);
    }

    /// <summary><see cref="Parse"/> as this platform writes a reference: <c>name</c> or <c>name:qualifier</c>.</summary>
    public static string Normalize(string value, string field)
    {
        var (name, qualifier) = Parse(value, field);
        return qualifier is null ? name : $"{name}:{qualifier}";
    }

    /// <summary><c>$LATEST</c>, a version number or an alias name.</summary>
    public static bool IsValidQualifier(string qualifier)
        => qualifier == FunctionDefinition.Latest || (FunctionDefinition.IsVersionNumber(qualifier) && qualifier.Length <= 10) || FunctionValidation.IsValidAlias(qualifier);
}
