using Fleet.Grains.Functions;

namespace Fleet.Grains.Tests;

/// <summary>
/// Lambda's forms of a <c>FunctionName</c>, by the pattern of its Invoke API reference, matched against the whole value:
/// <c>(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?</c>,
/// 1-170 characters (the other operations, such as the event invoke config: the same without '.', 1-140).
/// </summary>
public sealed class FunctionNamesTests
{
    [Theory]
    [InlineData("my-function", "my-function", null)]
    [InlineData("my-function:v1", "my-function", "v1")]
    [InlineData("my-function:$LATEST", "my-function", "$LATEST")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function", "my-function", null)]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function:3", "my-function", "3")]
    [InlineData("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my_function:live", "my_function", "live")]
    [InlineData("123456789012:function:my-function", "my-function", null)]
    [InlineData("123456789012:function:my-function:v1", "my-function", "v1")]
    [InlineData("123456789012:function:my-function:$LATEST", "my-function", "$LATEST")]
    // The region and the account are each optional, with or without the arn: prefix.
    [InlineData("us-west-2:123456789012:function:my-function", "my-function", null)]
    [InlineData("us-west-2:123456789012:function:my-function:live", "my-function", "live")]
    [InlineData("function:my-function:2", "my-function", "2")]
    [InlineData("arn::lambda:us-east-1:123456789012:function:my-function", "my-function", null)]
    // ACCOUNT:NAME, the partial ARN of Lambda's older documentation (account-id:Thumbnail): a 12-digit first segment is the account.
    [InlineData("123456789012:Thumbnail", "Thumbnail", null)]
    [InlineData("123456789012:Thumbnail:live", "Thumbnail", "live")]
    [InlineData("123456789012:func:my-function", "func", "my-function")]
    [InlineData("123456789012", "123456789012", null)] // no ':' after it: the name
    // Invoke's pattern allows '.' in the name.
    [InlineData("my.function", "my.function", null)]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my.function:live", "my.function", "live")]
    public void Every_form_Lambdas_pattern_allows_names_the_function_and_its_qualifier(string value, string name, string? qualifier)
        => Assert.Equal((name, qualifier), FunctionNames.Parse(value, "FunctionName"));

    [Theory]
    [InlineData("my-function", "my-function")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function:3", "my-function:3")]
    [InlineData("123456789012:function:my-function:$LATEST", "my-function:$LATEST")]
    [InlineData("us-west-2:123456789012:function:my-function:live", "my-function:live")]
    [InlineData("123456789012:my-function:live", "my-function:live")]
    // The platform's name[:qualifier] is taken as written first: a function named like an account or "function" keeps
    // its references (Lambda's pattern alone would read these as function "live").
    [InlineData("123456789012:live", "123456789012:live")]
    [InlineData("function:live", "function:live")]
    public void Normalize_writes_the_platforms_reference(string value, string reference)
        => Assert.Equal(reference, FunctionNames.Normalize(value, "FunctionName"));

    [Theory]
    [InlineData("12345:function:my-function", "is not a partial function ARN")] // the account is 12 digits
    [InlineData("1234567890123:function:my-function", "is not a partial function ARN")]
    [InlineData("123456789012:function:", "does not name a function")]
    [InlineData("123456789012:function:my-function:v1:extra", "is not a function name or ARN")]
    [InlineData("123456789012:function:my-function:bad!q", "has an invalid qualifier")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:layer:x:1", "is not a Lambda function ARN")]
    [InlineData("arn:aws:sqs:us-west-2:123456789012:queue", "is not a Lambda function ARN")]
    [InlineData("arn:aws:lambda:nowhere:123456789012:function:x", "is not a Lambda function ARN")]
    [InlineData("not a name", "does not name a function")]
    [InlineData(":live", "does not name a function")]
    [InlineData("", "does not name a function")]
    [InlineData("fn:1:2", "is not a function name or ARN")]
    [InlineData("fn:bad!q", "has an invalid qualifier")]
    [InlineData("fn:", "has an invalid qualifier")]
    [InlineData("fn:$LATEST2", "has an invalid qualifier")] // in the name, '$' only as $LATEST
    [InlineData("fn:a$b", "has an invalid qualifier")]
    // The whole value must match: no trailing newline (which $ would let through), no Unicode digits (which \d would).
    [InlineData("my-function\n", "does not name a function")]
    [InlineData("my-function:live\n", "has an invalid qualifier")]
    [InlineData("123456789012:function:my-function\n", "does not name a function")]
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:my-function\n", "does not name a function")]
    [InlineData("\nmy-function", "does not name a function")]
    [InlineData("١٢٣٤٥٦٧٨٩٠١٢:function:my-function", "is not a function name or ARN")]
    public void A_value_lambdas_pattern_refuses_is_refused_with_the_field_and_the_reason(string value, string reason)
    {
        var refused = Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse(value, "FunctionName"));
        Assert.Contains(reason, refused.Message);
        Assert.StartsWith($"FunctionName '{value}'", refused.Message);
    }

    [Fact]
    public void An_invoke_function_name_is_at_most_170_characters_the_whole_arn_counted()
    {
        const string Arn = "arn:aws:lambda:us-west-2:123456789012:function:";
        var longest = Arn + new string('a', 64) + ":" + new string('b', 170 - Arn.Length - 65);
        Assert.Equal(170, longest.Length);
        Assert.Equal(new string('a', 64), FunctionNames.Parse(longest, "FunctionName").Name);

        // Lambda's Invoke refuses a FunctionName over 170 characters, even one whose name (64) and qualifier (128) are each allowed.
        var value = Arn + new string('a', 64) + ":" + new string('b', 128);
        Assert.Equal(240, value.Length);
        var refused = Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse(value, "FunctionName"));
        Assert.Contains("at most 170", refused.Message);
        Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse(longest + "b", "FunctionName"));
    }

    [Fact]
    public void The_other_operations_take_lambdas_pattern_without_periods_and_at_most_140_characters()
    {
        Assert.Equal(("my-function", "live"), FunctionNames.Parse("123456789012:function:my-function:live", "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false));
        var dotted = Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse("my.function", "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false));
        Assert.Contains("does not name a function", dotted.Message);
        Assert.Equal(new string('a', 140), FunctionNames.Parse(new string('a', 140), "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false).Name);
        Assert.Throws<FunctionValidationException>(() => FunctionNames.Parse(new string('a', 141), "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false));
    }

    [Theory]
    [InlineData("my.function", "does not name a function: a name is 1-64")] // allowed by Invoke's pattern, but no function of this platform has it
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "does not name a function: a name is 1-64")] // 65
    [InlineData("fn:12345678901", "has an invalid qualifier")] // no version number is that large
    [InlineData("fn:bad!q", "has an invalid qualifier")]
    public void Normalize_refuses_a_name_or_qualifier_no_function_of_this_platform_can_have(string value, string reason)
    {
        var refused = Assert.Throws<FunctionValidationException>(() => FunctionNames.Normalize(value, "Destination"));
        Assert.Contains(reason, refused.Message);
    }

    [Theory]
    [InlineData("$LATEST", true)]
    [InlineData("1", true)]
    [InlineData("live", true)]
    [InlineData("a$b", true)] // Lambda's Qualifier pattern allows '$' anywhere: such a qualifier is not found, not refused
    [InlineData("12345678901", true)]
    [InlineData("bad!q", false)]
    [InlineData("live\n", false)]
    [InlineData("my.alias", false)]
    public void The_qualifier_parameter_follows_lambdas_pattern(string qualifier, bool valid)
        => Assert.Equal(valid, FunctionNames.IsValidQualifierParameter(qualifier));

    [Fact]
    public void The_qualifier_parameter_is_at_most_128_characters()
    {
        Assert.True(FunctionNames.IsValidQualifierParameter(new string('q', 128)));
        Assert.False(FunctionNames.IsValidQualifierParameter(new string('q', 129)));
    }

    [Theory]
    [InlineData("123456789012:function:dest", "dest")]
    [InlineData("123456789012:function:dest:live", "dest:live")]
    [InlineData("arn:aws:lambda:us-east-1:123456789012:function:dest:2", "dest:2")]
    [InlineData("dest", "dest")]
    public void A_destination_takes_the_partial_arn_too(string destination, string function)
        => Assert.Equal(function, EventDestinations.ParseFunction(destination, "DestinationConfig.OnFailure.Destination"));

    [Fact]
    public void A_destination_arn_may_be_longer_than_invokes_170_characters()
    {
        // Lambda's Destination is an ARN of up to 350 characters: a function ARN with a 64-character name and a 128-character alias fits.
        var destination = "arn:aws:lambda:us-east-1:123456789012:function:" + new string('a', 64) + ":" + new string('b', 128);
        Assert.Equal(new string('a', 64) + ":" + new string('b', 128), EventDestinations.ParseFunction(destination, "DestinationConfig.OnFailure.Destination"));
    }
}
