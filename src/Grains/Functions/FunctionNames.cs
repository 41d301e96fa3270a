using System.Text.RegularExpressions;

namespace Fleet.Grains.Functions;

/// <summary>
/// The one parser of a function reference in Lambda's <c>FunctionName</c> forms, by Lambda's own pattern
/// (<c>(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?</c>,
/// matched against the whole value): the name (<c>my-function</c>), the function ARN
/// (<c>arn:aws:lambda:us-west-2:123456789012:function:my-function</c>), the partial ARN
/// (<c>123456789012:function:my-function</c>) and the other forms the pattern allows (<c>us-west-2:123456789012:function:my-function</c>,
/// <c>123456789012:my-function</c>: a 12-digit first segment is the account), each optionally followed by <c>:QUALIFIER</c>
/// (<c>$LATEST</c>, a version number or an alias). Where the pattern could read a segment two ways, it is read as the pattern's
/// groups take it, left to right. The region and account are not compared: there is one platform.
/// </summary>
public static partial class FunctionNames
{
    /// <summary>The forms, as a refusal lists them.</summary>
    public const string Forms = "NAME, ACCOUNT:function:NAME or arn:aws:lambda:REGION:ACCOUNT:function:NAME (the region and the account optional), each optionally with :QUALIFIER";

    /// <summary>Lambda's limit on Invoke's <c>FunctionName</c> (the whole value, ARN and qualifier included).</summary>
    public const int MaxLength = 170;

    /// <summary>Lambda's limit on the <c>FunctionName</c> of the other operations (the event invoke config's), whose names have no '.'.</summary>
    public const int MaxLengthWithoutPeriods = 140;

    /// <summary>Lambda's limit on a <c>Qualifier</c> parameter.</summary>
    public const int MaxQualifierLength = 128;

    // Lambda's Invoke FunctionName pattern (its NamespacedFunctionName), anchored at both ends (\z: $ would accept a
    // trailing newline). [0-9], not \d: .NET's \d is any Unicode digit.
    [GeneratedRegex(@"\A(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]:)?([0-9]{12}:)?(function:)?(?<name>[a-zA-Z0-9_.-]+)(:(?<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?\z")]
    private static partial Regex NamePattern();

    // The other operations' FunctionName pattern: the same without '.' in the name.
    [GeneratedRegex(@"\A(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]:)?([0-9]{12}:)?(function:)?(?<name>[a-zA-Z0-9_-]+)(:(?<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?\z")]
    private static partial Regex NameWithoutPeriodsPattern();

    // The same prefixes with any name and qualifier: only to say what is wrong with a value the pattern refuses.
    [GeneratedRegex(@"\A(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-[0-9]:)?([0-9]{12}:)?(function:)?(?<name>[^:]*)(:(?<qualifier>[^:]*))?\z")]
    private static partial Regex AnyNamePattern();

    // A partial ARN whose account is not 12 digits.
    [GeneratedRegex(@"\A(?![0-9]{12}:)[0-9]+:function:")]
    private static partial Regex NumberedPartialArnPattern();

    // Lambda's Qualifier parameter: (|[a-zA-Z0-9$_-]+), 1-128 characters.
    [GeneratedRegex(@"\A[a-zA-Z0-9$_-]+\z")]
    private static partial Regex QualifierParameterPattern();

    /// <summary>
    /// The function's name and qualifier (null when none) that <paramref name="value"/> names in any of Lambda's forms;
    /// a value Lambda's pattern refuses, or longer than <paramref name="maxLength"/>, throws
    /// <see cref="FunctionValidationException"/> naming <paramref name="field"/> and the reason. Invoke's names may hold '.'
    /// (<paramref name="periods"/>); the other operations' may not. Whether the function exists is not checked, nor whether
    /// this platform could hold such a name: a name no function has (longer than 64 characters, with a '.') is simply not
    /// found, as in Lambda.
    /// </summary>
    public static (string Name, string? Qualifier) Parse(string value, string field, int maxLength = MaxLength, bool periods = true)
    {
        if (value.Length > maxLength)
            throw new FunctionValidationException($"{field} '{value}' is {value.Length} characters: at most {maxLength} are allowed");
        var match = (periods ? NamePattern() : NameWithoutPeriodsPattern()).Match(value);
        if (!match.Success) throw Refusal(value, field, periods);
        var qualifier = match.Groups["qualifier"];
        return (match.Groups["name"].Value, qualifier.Success ? qualifier.Value : null);
    }

    /// <summary>
    /// <see cref="Parse"/> as this platform writes a reference, <c>name</c> or <c>name:qualifier</c>, for a setting that names
    /// a function which need not exist yet (a destination): a name or qualifier no function of this platform can have is
    /// refused here (400), with the rule it breaks, instead of being stored to be never found.
    /// </summary>
    public static string Normalize(string value, string field, int maxLength = MaxLength)
    {
        // The platform's own form first: a name of this platform, with at most a qualifier, is taken as written. Lambda's
        // pattern would read "123456789012:live" as function "live" of an account and "function:live" as function "live",
        // so a reference stored before ARNs were accepted (to a function with such a name) would silently change target.
        var colon = value.IndexOf(':');
        var plain = colon < 0 ? (value, (string?)null) : (value[..colon], value[(colon + 1)..]);
        if (FunctionValidation.IsValidName(plain.Item1) && (plain.Item2 is null || (!plain.Item2.Contains(':') && IsValidQualifier(plain.Item2))))
            return value;

        var (name, qualifier) = Parse(value, field, maxLength);
        if (!FunctionValidation.IsValidName(name))
            throw new FunctionValidationException($"{field} '{value}' does not name a function: a name is 1-64 letters, digits, '-' or '_'");
        if (qualifier is not null && !IsValidQualifier(qualifier))
            throw new FunctionValidationException($"{field} '{value}' has an invalid qualifier '{qualifier}': $LATEST, a version number or an alias");
        return qualifier is null ? name : $"{name}:{qualifier}";
    }

    /// <summary><c>$LATEST</c>, a version number or an alias name: a qualifier a function of this platform can have.</summary>
    public static bool IsValidQualifier(string qualifier)
        => qualifier == FunctionDefinition.Latest || (FunctionDefinition.IsVersionNumber(qualifier) && qualifier.Length <= 10) || FunctionValidation.IsValidAlias(qualifier);

    /// <summary>
    /// Lambda's <c>Qualifier</c> parameter (<c>?Qualifier=</c>): 1-128 of letters, digits, '$', '_' and '-'. One that no
    /// version or alias has is not found, as in Lambda, not refused.
    /// </summary>
    public static bool IsValidQualifierParameter(string qualifier)
        => qualifier.Length <= MaxQualifierLength && QualifierParameterPattern().IsMatch(qualifier);

    /// <summary>Why Lambda's pattern refuses <paramref name="value"/>, as precisely as can be said.</summary>
    private static FunctionValidationException Refusal(string value, string field, bool periods)
    {
        if (AnyNamePattern().Match(value) is { Success: true } any)
        {
            var name = any.Groups["name"].Value;
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' || (periods && c == '.')))
            {
                return new FunctionValidationException(
                    $"{field} '{value}' does not name a function: a name is letters, digits, '-'{(periods ? ", '_' or '.'" : " or '_'")} ({Forms})");
            }

            if (any.Groups["qualifier"] is { Success: true } qualifier)
                return new FunctionValidationException($"{field} '{value}' has an invalid qualifier '{qualifier.Value}': $LATEST, a version number or an alias");
        }

        if (value.StartsWith("arn:", StringComparison.Ordinal))
            return new FunctionValidationException($"{field} '{value}' is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])");
        if (NumberedPartialArnPattern().IsMatch(value))
            return new FunctionValidationException($"{field} '{value}' is not a partial function ARN: that is ACCOUNT:function:NAME[:QUALIFIER] with a 12-digit account");
        return new FunctionValidationException($"{field} '{value}' is not a function name or ARN: {Forms}");
    }
}
